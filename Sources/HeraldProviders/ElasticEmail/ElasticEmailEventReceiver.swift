import Foundation
import HeraldCore

/// Elastic Email's HTTP notifications: one event per request, as query parameters (a GET),
/// unsigned.
///
/// Elastic Email (Settings → Notifications) calls the URL with `transaction`, `to`,
/// `status` (Sent, Opened, Clicked, Error, AbuseReport, Unsubscribed), `category` (why an
/// Error happened), `messageid`, `date` and `postback`, which carries Herald's id. Nothing is
/// signed, so the URL carries a secret (`?secret=…`) that Herald compares in constant time.
public struct ElasticEmailEventReceiver: ProviderEventReceiver {
    public struct Configuration: Sendable {
        public var secret: String

        public init(secret: String) {
            self.secret = secret
        }
    }

    let provider: String
    let configuration: Configuration

    public init(provider: String, configuration: Configuration) {
        self.provider = provider
        self.configuration = configuration
    }

    public func events(from request: InboundEventRequest) async throws(EventRejection) -> [ProviderEvent] {
        guard let secret = request.query["secret"], constantTimeEqual(Array(secret.utf8), Array(configuration.secret.utf8))
        else { throw EventRejection(.unauthenticated, "the URL's secret is missing or wrong") }
        let fields = request.query.filter { $0.key != "secret" }
        guard let status = fields["status"] else { throw EventRejection(.malformed, "the notification has no status") }
        let recipient = fields["to"]
        let category = fields["category"]
        var kind = ProviderEvent.Kind.unknown
        var bounce: ProviderEvent.Bounce?
        switch status.lowercased() {
        case "sent": kind = .delivered
        case "opened": kind = .opened
        case "clicked": kind = .clicked
        case "abusereport": kind = .complained
        case "unsubscribed": kind = .unsubscribed
        case "error":
            kind = .bounced
            bounce = ProviderEvent.Bounce(
                severity: Self.hardCategories.contains(category ?? "") ? .hard : .soft, classification: category ?? "Unknown")
        default: kind = .unknown
        }
        // A date in another form than ISO 8601 counts as the time of the request.
        let occurredAt = EventReception.date(iso8601: fields["date"]) ?? request.receivedAt
        let payload = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return [
            ProviderEvent(
                id: EventReception.derivedID(fields["transaction"], fields["messageid"], recipient, status, fields["date"]),
                provider: provider, kind: kind, occurredAt: occurredAt, recipient: recipient,
                emailID: fields["postback"].flatMap(EmailID.init), providerMessageID: fields["messageid"], bounce: bounce,
                payload: Array(payload.utf8))
        ]
    }

    /// Error categories that will not succeed on a later try.
    static let hardCategories: Set<String> = ["NoMailbox", "AccountProblem", "BlackListed", "Spam", "ContentFilter", "DNSProblem"]

}
