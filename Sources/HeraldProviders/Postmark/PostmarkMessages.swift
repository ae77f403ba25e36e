import Foundation
import HeraldCore

/// The body of `POST /email`, with the field names of Postmark's Email API reference
/// (https://postmarkapp.com/developer/api/email-api).
struct PostmarkEmailRequest: Encodable {
    struct Header: Encodable {
        let name: String
        let value: String

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case value = "Value"
        }
    }

    struct Attachment: Encodable {
        let name: String
        /// Base64, as JSONEncoder writes `Data`.
        let content: Data
        let contentType: String
        /// `cid:<id>` for inline parts, as the HTML refers to them.
        let contentID: String?

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case content = "Content"
            case contentType = "ContentType"
            case contentID = "ContentID"
        }
    }

    let from: String
    let to: String
    let cc: String?
    let bcc: String?
    let replyTo: String?
    let subject: String
    let textBody: String?
    let htmlBody: String?
    let headers: [Header]
    let attachments: [Attachment]?
    let tag: String?
    let metadata: [String: String]
    let messageStream: String

    enum CodingKeys: String, CodingKey {
        case from = "From"
        case to = "To"
        case cc = "Cc"
        case bcc = "Bcc"
        case replyTo = "ReplyTo"
        case subject = "Subject"
        case textBody = "TextBody"
        case htmlBody = "HtmlBody"
        case headers = "Headers"
        case attachments = "Attachments"
        case tag = "Tag"
        case metadata = "Metadata"
        case messageStream = "MessageStream"
    }

    /// Postmark keeps metadata small: at most 10 fields, keys up to 20 characters, values up to
    /// 80 (https://postmarkapp.com/support/article/1125-custom-metadata-faq). `herald_id` always
    /// goes first; client metadata that does not fit is left out rather than refused.
    static let maxMetadataFields = 10
    static let maxMetadataKeyLength = 20
    static let maxMetadataValueLength = 80
    /// Tags are at most 1000 characters (Email API reference).
    static let maxTagLength = 1000

    init(_ delivery: Delivery, messageStream: String) {
        let message = delivery.message
        // Lists are comma-separated strings of `Name <address>`, quoted where needed.
        let list = { (addresses: [EmailAddress]) -> String? in addresses.isEmpty ? nil : MIMEMessage.addressList(addresses) }
        self.from = MIMEMessage.addressList([message.from])
        self.to = MIMEMessage.addressList(message.to)
        self.cc = list(message.cc)
        self.bcc = list(message.bcc)
        self.replyTo = list(message.replyTo)
        self.subject = message.subject
        self.textBody = message.text
        self.htmlBody = message.html
        var headers = [
            Header(name: "X-Herald-Id", value: delivery.emailID.rawValue),
            Header(name: "Message-ID", value: MIMEMessage.messageID(for: delivery.emailID, from: message.from)),
        ]
        headers += message.headers.sorted { $0.key < $1.key }.map { Header(name: $0.key, value: $0.value) }
        self.headers = headers
        self.attachments =
            message.attachments.isEmpty
            ? nil
            : message.attachments.map {
                Attachment(name: $0.filename, content: $0.content, contentType: $0.contentType, contentID: $0.contentID.map { "cid:\($0)" })
            }
        self.tag = message.tags.first { !$0.isEmpty && $0.count <= Self.maxTagLength }
        var metadata = ["herald_id": delivery.emailID.rawValue]
        for (key, value) in message.metadata.sorted(by: { $0.key < $1.key })
        where metadata.count < Self.maxMetadataFields && key.count <= Self.maxMetadataKeyLength
            && value.count <= Self.maxMetadataValueLength && metadata[key] == nil
        {
            metadata[key] = value
        }
        self.metadata = metadata
        self.messageStream = messageStream
    }
}

/// Postmark's answer, for success and for errors alike: `{"ErrorCode": 0, "MessageID": ...}`.
struct PostmarkResponse: Decodable {
    let errorCode: Int?
    let messageID: String?

    enum CodingKeys: String, CodingKey {
        case errorCode = "ErrorCode"
        case messageID = "MessageID"
    }
}
