import Foundation
import HeraldCore

/// Postmark's webhooks: one JSON object per event, unsigned.
///
/// Postmark signs nothing; it recommends basic-auth credentials in the webhook URL
/// (https://postmarkapp.com/developer/webhooks/webhooks-overview, "Protecting your webhook"),
/// which reach Herald as `Authorization: Basic`. Herald compares them in constant time.
/// `RecordType` names the event (https://postmarkapp.com/developer/webhooks/bounce-webhook and
/// its siblings); Herald's id comes back in `Metadata.herald_id`. Postmark gives no id to
/// most events, so Herald derives one and drops repeats by it.
public struct PostmarkEventReceiver: ProviderEventReceiver {
    public struct Configuration: Sendable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    let provider: String
    let configuration: Configuration

    public init(provider: String, configuration: Configuration) {
        self.provider = provider
        self.configuration = configuration
    }

    public func events(from request: InboundEventRequest) async throws(EventRejection) -> [ProviderEvent] {
        let expected = "Basic " + Data("\(configuration.username):\(configuration.password)".utf8).base64EncodedString()
        guard let given = request.headers["authorization"], constantTimeEqual(Array(given.utf8), Array(expected.utf8))
        else { throw EventRejection(.unauthenticated, "the webhook's credentials are missing or wrong") }
        guard let fields = try EventReception.json(request.body) as? [String: Any] else {
            throw EventRejection(.malformed, "the payload is not a JSON object")
        }
        return [event(from: fields)]
    }

    private func event(from fields: [String: Any]) -> ProviderEvent {
        let record = fields["RecordType"] as? String ?? ""
        let recipient = fields["Recipient"] as? String ?? fields["Email"] as? String
        let time = ["DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt"].lazy.compactMap { EventReception.date(iso8601: fields[$0]) }
            .first
        var kind = ProviderEvent.Kind.unknown
        var bounce: ProviderEvent.Bounce?
        var detail: String?
        switch record {
        case "Delivery": kind = .delivered
        case "Bounce": (kind, bounce) = Self.bounce(fields)
        case "SpamComplaint": kind = .complained
        case "Open": kind = .opened
        case "Click":
            kind = .clicked
            detail = fields["OriginalLink"] as? String
        case "SubscriptionChange":
            kind = fields["SuppressSending"] as? Bool == false ? .unknown : .unsubscribed
            detail = fields["SuppressionReason"] as? String
        default: kind = .unknown
        }
        let messageID = fields["MessageID"] as? String
        let metadata = fields["Metadata"] as? [String: Any]
        let id =
            (fields["ID"] as? NSNumber).map { "\(record):\($0.stringValue)" }
            ?? EventReception.derivedID(record, messageID, recipient, time.map { "\($0.timeIntervalSince1970)" })
        return ProviderEvent(
            id: id, provider: provider, kind: kind, occurredAt: time ?? Date(timeIntervalSince1970: 0), recipient: recipient,
            emailID: (metadata?["herald_id"] as? String).flatMap(EmailID.init), providerMessageID: messageID, bounce: bounce,
            detail: detail, payload: EventReception.payload(of: fields))
    }

    /// A bounce record by its `Type` (https://postmarkapp.com/developer/api/bounce-api#bounce-types):
    /// some are not bounces at all (an auto-reply, a spam complaint, an unsubscribe).
    private static func bounce(_ fields: [String: Any]) -> (ProviderEvent.Kind, ProviderEvent.Bounce?) {
        let type = fields["Type"] as? String ?? "Unknown"
        let diagnostic = [fields["Description"] as? String, fields["Details"] as? String].compactMap { $0 }.joined(separator: " ")
        let severity: ProviderEvent.Bounce.Severity
        switch type {
        case "AutoResponder": return (.autoresponded, nil)
        case "SpamComplaint", "SpamNotification": return (.complained, nil)
        case "Unsubscribe": return (.unsubscribed, nil)
        case "Subscribe", "OpenRelayTest", "ChallengeVerification": return (.unknown, nil)
        case "HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked", "DMARCPolicy": severity = .hard
        case "Transient", "SoftBounce", "DnsError": severity = .soft
        default: severity = .undetermined
        }
        return (.bounced, ProviderEvent.Bounce(severity: severity, classification: type, diagnostic: diagnostic))
    }
}
