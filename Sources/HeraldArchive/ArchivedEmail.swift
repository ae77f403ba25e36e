import Foundation
import HeraldCore

/// One line of an archive file: an email as the store held it when it was removed, with its
/// tenant, its whole content (Bcc and attachments included) and its whole history, as JSON.
struct ArchivedEmail: Codable, Equatable {
    /// Names the layout of a line, for readers years later.
    static let format = "herald-email-1"

    struct ProviderEventLine: Codable, Equatable {
        var id: String
        var provider: String
        var kind: ProviderEvent.Kind
        var occurredAt: Date
        var receivedAt: Date
        var recipient: String?
        var providerMessageID: String?
        var bounce: ProviderEvent.Bounce?
        var detail: String?
        /// The provider's payload as it came, in base64: it need not be UTF-8.
        var payload: Data

        enum CodingKeys: String, CodingKey {
            case id, provider, kind, recipient, bounce, detail, payload
            case occurredAt = "occurred_at"
            case receivedAt = "received_at"
            case providerMessageID = "provider_message_id"
        }
    }

    struct RecipientLine: Codable, Equatable {
        var address: String
        var phase: RecipientState.Phase
        var updatedAt: Date
        var bounce: ProviderEvent.Bounce?

        enum CodingKeys: String, CodingKey {
            case address, phase, bounce
            case updatedAt = "updated_at"
        }
    }

    var format = Self.format
    var id: EmailID
    var tenant: String
    var status: EmailStatus
    var createdAt: Date
    var updatedAt: Date
    var provider: String?
    var providerMessageID: String?
    var failureReason: String?
    var sendAt: Date?
    var contentRemovedAt: Date?
    var message: EmailMessage
    var attempts: [Attempt]
    var events: [EmailEvent]
    var providerEvents: [ProviderEventLine]
    var recipients: [RecipientLine]

    enum CodingKeys: String, CodingKey {
        case format, id, tenant, status, provider, message, attempts, events, recipients
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case providerMessageID = "provider_message_id"
        case failureReason = "failure_reason"
        case sendAt = "send_at"
        case contentRemovedAt = "content_removed_at"
        case providerEvents = "provider_events"
    }

    init(_ email: EmailDetail) {
        id = email.id
        tenant = email.tenant
        status = email.status
        createdAt = email.createdAt
        updatedAt = email.updatedAt
        provider = email.provider
        providerMessageID = email.providerMessageID
        failureReason = email.failureReason
        sendAt = email.sendAt
        contentRemovedAt = email.contentRemovedAt
        message = email.message
        attempts = email.attempts
        events = email.events
        providerEvents = email.providerEvents.map { recorded in
            let event = recorded.event
            return ProviderEventLine(
                id: event.id, provider: event.provider, kind: event.kind, occurredAt: event.occurredAt, receivedAt: recorded.receivedAt,
                recipient: event.recipient, providerMessageID: event.providerMessageID, bounce: event.bounce, detail: event.detail,
                payload: Data(event.payload))
        }
        recipients = email.recipients.map {
            RecipientLine(address: $0.address, phase: $0.phase, updatedAt: $0.updatedAt, bounce: $0.bounce)
        }
    }

    /// Times as RFC 3339 with milliseconds, the precision the stores keep; keys in one order,
    /// so that one email always makes the same line.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(UTCTime(date).iso8601)
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text)")
            }
            return date
        }
        return decoder
    }()
}
