import Foundation
import HeraldCore

/// The body of `POST /v2/email/outbound-emails`, as the SES v2 API reference names its fields.
struct SESSendEmailRequest: Encodable {
    struct Destination: Encodable {
        let toAddresses: [String]
        let ccAddresses: [String]
        let bccAddresses: [String]

        enum CodingKeys: String, CodingKey {
            case toAddresses = "ToAddresses"
            case ccAddresses = "CcAddresses"
            case bccAddresses = "BccAddresses"
        }
    }

    struct Text: Encodable {
        let data: String
        let charset = "UTF-8"

        enum CodingKeys: String, CodingKey {
            case data = "Data"
            case charset = "Charset"
        }
    }

    struct Body: Encodable {
        let text: Text?
        let html: Text?

        enum CodingKeys: String, CodingKey {
            case text = "Text"
            case html = "Html"
        }
    }

    struct Header: Encodable {
        let name: String
        let value: String

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case value = "Value"
        }
    }

    struct Simple: Encodable {
        let subject: Text
        let body: Body
        let headers: [Header]

        enum CodingKeys: String, CodingKey {
            case subject = "Subject"
            case body = "Body"
            case headers = "Headers"
        }
    }

    struct Raw: Encodable {
        /// The MIME message; JSONEncoder writes `Data` as base64, as SES expects.
        let data: Data

        enum CodingKeys: String, CodingKey {
            case data = "Data"
        }
    }

    struct Content: Encodable {
        let simple: Simple?
        let raw: Raw?

        enum CodingKeys: String, CodingKey {
            case simple = "Simple"
            case raw = "Raw"
        }
    }

    struct Tag: Encodable {
        let name: String
        let value: String

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case value = "Value"
        }
    }

    let fromEmailAddress: String
    let destination: Destination
    let replyToAddresses: [String]
    let content: Content
    let emailTags: [Tag]
    let configurationSetName: String?

    enum CodingKeys: String, CodingKey {
        case fromEmailAddress = "FromEmailAddress"
        case destination = "Destination"
        case replyToAddresses = "ReplyToAddresses"
        case content = "Content"
        case emailTags = "EmailTags"
        case configurationSetName = "ConfigurationSetName"
    }

    /// Simple content when SES can render the email itself; raw MIME for attachments and
    /// custom headers, which Simple content cannot carry everywhere.
    init(_ delivery: Delivery, configurationSetName: String?) {
        let message = delivery.message
        let list = { (addresses: [EmailAddress]) in addresses.map { MIMEMessage.addressList([$0]) } }
        self.fromEmailAddress = MIMEMessage.addressList([message.from])
        self.destination = Destination(toAddresses: list(message.to), ccAddresses: list(message.cc), bccAddresses: list(message.bcc))
        self.replyToAddresses = list(message.replyTo)
        if message.attachments.isEmpty && message.headers.isEmpty {
            self.content = Content(
                simple: Simple(
                    subject: Text(data: message.subject),
                    body: Body(text: message.text.map(Text.init(data:)), html: message.html.map(Text.init(data:))),
                    headers: [Header(name: "X-Herald-Id", value: delivery.emailID.rawValue)]
                ),
                raw: nil
            )
        } else {
            let mime = MIMEMessage.render(message, emailID: delivery.emailID, date: delivery.acceptedAt)
            self.content = Content(simple: nil, raw: Raw(data: Data(mime)))
        }
        self.emailTags = [Tag(name: "herald_id", value: delivery.emailID.rawValue)]
        self.configurationSetName = configurationSetName
    }
}

struct SESSendEmailResponse: Decodable {
    let messageID: String

    enum CodingKeys: String, CodingKey {
        case messageID = "MessageId"
    }
}

/// The account's sending limits, as `GET /v2/email/account` reports them.
public struct SESSendQuota: Decodable, Sendable, Equatable {
    public let max24HourSend: Double
    public let maxSendRate: Double
    public let sentLast24Hours: Double

    public init(max24HourSend: Double, maxSendRate: Double, sentLast24Hours: Double) {
        self.max24HourSend = max24HourSend
        self.maxSendRate = maxSendRate
        self.sentLast24Hours = sentLast24Hours
    }

    enum CodingKeys: String, CodingKey {
        case max24HourSend = "Max24HourSend"
        case maxSendRate = "MaxSendRate"
        case sentLast24Hours = "SentLast24Hours"
    }
}

struct SESAccount: Decodable {
    let sendQuota: SESSendQuota

    enum CodingKeys: String, CodingKey {
        case sendQuota = "SendQuota"
    }
}
