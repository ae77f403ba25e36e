import Foundation
import HeraldCore

/// The body of `POST /v4/emails/transactional` (`EmailTransactionalMessageData`), with the
/// field names of Elastic Email's REST API v4 reference
/// (https://elasticemail.com/developers/api-documentation/rest-api#operation/emailsTransactionalPost;
/// models as in the official SDK: https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/EmailContent.md).
struct ElasticEmailTransactionalRequest: Encodable {
    struct Recipients: Encodable {
        let to: [String]
        let cc: [String]?
        let bcc: [String]?

        enum CodingKeys: String, CodingKey {
            case to = "To"
            case cc = "CC"
            case bcc = "BCC"
        }
    }

    struct BodyPart: Encodable {
        /// `PlainText` or `HTML` (`BodyContentType`).
        let contentType: String
        let content: String
        let charset = "utf-8"

        enum CodingKeys: String, CodingKey {
            case contentType = "ContentType"
            case content = "Content"
            case charset = "Charset"
        }
    }

    struct Attachment: Encodable {
        /// Base64, as JSONEncoder writes `Data`.
        let binaryContent: Data
        let name: String
        let contentType: String

        enum CodingKeys: String, CodingKey {
            case binaryContent = "BinaryContent"
            case name = "Name"
            case contentType = "ContentType"
        }
    }

    struct Content: Encodable {
        let body: [BodyPart]
        let attachments: [Attachment]?
        let headers: [String: String]
        /// Returned in Elastic Email's notifications: the Herald id.
        let postback: String
        let from: String
        let replyTo: String?
        let subject: String

        enum CodingKeys: String, CodingKey {
            case body = "Body"
            case attachments = "Attachments"
            case headers = "Headers"
            case postback = "Postback"
            case from = "From"
            case replyTo = "ReplyTo"
            case subject = "Subject"
        }
    }

    struct Options: Encodable {
        /// Groups messages in reports (at most 60 characters): the first tag.
        let channelName: String?

        enum CodingKeys: String, CodingKey {
            case channelName = "ChannelName"
        }
    }

    let recipients: Recipients
    let content: Content
    let options: Options?

    enum CodingKeys: String, CodingKey {
        case recipients = "Recipients"
        case content = "Content"
        case options = "Options"
    }

    static let maxChannelNameLength = 60

    init(_ delivery: Delivery) {
        let message = delivery.message
        let each = { (addresses: [EmailAddress]) in addresses.map { MIMEMessage.addressList([$0]) } }
        let optional = { (addresses: [EmailAddress]) -> [String]? in addresses.isEmpty ? nil : each(addresses) }
        self.recipients = Recipients(to: each(message.to), cc: optional(message.cc), bcc: optional(message.bcc))
        var body: [BodyPart] = []
        if let text = message.text { body.append(BodyPart(contentType: "PlainText", content: text)) }
        if let html = message.html { body.append(BodyPart(contentType: "HTML", content: html)) }
        var headers = message.headers
        headers["X-Herald-Id"] = delivery.emailID.rawValue
        headers["Message-ID"] = MIMEMessage.messageID(for: delivery.emailID, from: message.from)
        self.content = Content(
            body: body,
            attachments: message.attachments.isEmpty
                ? nil : message.attachments.map { Attachment(binaryContent: $0.content, name: $0.filename, contentType: $0.contentType) },
            headers: headers,
            postback: delivery.emailID.rawValue,
            from: MIMEMessage.addressList([message.from]),
            replyTo: message.replyTo.isEmpty ? nil : MIMEMessage.addressList(message.replyTo),
            subject: message.subject
        )
        let channel = message.tags.first { !$0.isEmpty && $0.count <= Self.maxChannelNameLength }
        self.options = channel.map { Options(channelName: $0) }
    }
}

/// Elastic Email's answer (`EmailSend`): `{"TransactionID": ..., "MessageID": ...}`.
struct ElasticEmailSendResponse: Decodable {
    let transactionID: String?
    let messageID: String?

    enum CodingKeys: String, CodingKey {
        case transactionID = "TransactionID"
        case messageID = "MessageID"
    }
}
