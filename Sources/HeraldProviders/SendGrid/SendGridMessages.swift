import Foundation
import HeraldCore

/// The body of `POST /v3/mail/send`, with the field names of SendGrid's v3 Mail Send reference
/// (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send). Empty lists are
/// left out rather than sent empty, which SendGrid refuses.
struct SendGridMailSendRequest: Encodable {
    struct Address: Encodable {
        let email: String
        let name: String?

        init(_ address: EmailAddress) {
            self.email = address.address
            self.name = address.displayName.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    struct Personalization: Encodable {
        let to: [Address]
        let cc: [Address]?
        let bcc: [Address]?
        let customArgs: [String: String]

        enum CodingKeys: String, CodingKey {
            case to, cc, bcc
            case customArgs = "custom_args"
        }
    }

    struct Content: Encodable {
        let type: String
        let value: String
    }

    struct Attachment: Encodable {
        /// Base64, as JSONEncoder writes `Data`.
        let content: Data
        let filename: String
        let type: String
        let disposition: String
        let contentID: String?

        enum CodingKeys: String, CodingKey {
            case content, filename, type, disposition
            case contentID = "content_id"
        }
    }

    let personalizations: [Personalization]
    let from: Address
    let replyTo: Address?
    let replyToList: [Address]?
    let subject: String
    let content: [Content]
    let attachments: [Attachment]?
    let headers: [String: String]
    let categories: [String]?

    enum CodingKeys: String, CodingKey {
        case personalizations, from, subject, content, attachments, headers, categories
        case replyTo = "reply_to"
        case replyToList = "reply_to_list"
    }

    /// `categories` replaces the ones made from the email's tags.
    init(_ delivery: Delivery, categories chosen: [String]? = nil) {
        let message = delivery.message
        let list = { (addresses: [EmailAddress]) -> [Address]? in addresses.isEmpty ? nil : addresses.map(Address.init) }
        // Custom arguments come back in every event webhook; the Herald id is among them.
        var customArgs = message.metadata
        customArgs["herald_id"] = delivery.emailID.rawValue
        self.personalizations = [
            Personalization(to: message.to.map(Address.init), cc: list(message.cc), bcc: list(message.bcc), customArgs: customArgs)
        ]
        self.from = Address(message.from)
        // `reply_to` and `reply_to_list` are mutually exclusive: the list only for several.
        self.replyTo = message.replyTo.count == 1 ? Address(message.replyTo[0]) : nil
        self.replyToList = message.replyTo.count > 1 ? message.replyTo.map(Address.init) : nil
        self.subject = message.subject
        // text/plain must come first when both are present.
        var content: [Content] = []
        if let text = message.text { content.append(Content(type: "text/plain", value: text)) }
        if let html = message.html { content.append(Content(type: "text/html", value: html)) }
        self.content = content
        self.attachments =
            message.attachments.isEmpty
            ? nil
            : message.attachments.map {
                Attachment(
                    content: $0.content, filename: $0.filename, type: $0.contentType,
                    disposition: $0.contentID == nil ? "attachment" : "inline", contentID: $0.contentID
                )
            }
        var headers = message.headers
        headers["X-Herald-Id"] = delivery.emailID.rawValue
        headers["Message-ID"] = MIMEMessage.messageID(for: delivery.emailID, from: message.from)
        self.headers = headers
        let categories = Self.categories(from: chosen ?? message.tags)
        self.categories = categories.isEmpty ? nil : categories
    }

    /// SendGrid takes at most 10 categories of at most 255 characters each, all distinct.
    static func categories(from tags: [String]) -> [String] {
        var seen: Set<String> = []
        var categories: [String] = []
        for tag in tags where !tag.isEmpty && tag.count <= 255 && tag.isASCII && seen.insert(tag).inserted {
            categories.append(tag)
            if categories.count == 10 { break }
        }
        return categories
    }
}

/// The error body of a SendGrid 4xx: `{"errors": [{"message": ..., "field": ...}]}`.
struct SendGridErrorResponse: Decodable {
    struct Item: Decodable {
        let message: String?
        let field: String?
    }

    let errors: [Item]
}

/// The answer of `GET /v3/scopes`: `{"scopes": ["mail.send", ...]}`, the scopes of the key that
/// asks (https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/retrieve-a-list-of-scopes-for-which-this-user-has-access).
struct SendGridScopesResponse: Decodable {
    let scopes: [String]
}
