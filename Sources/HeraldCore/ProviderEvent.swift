#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a provider reports about an email after it took it: delivered, bounced, opened and
/// so on, normalized from each provider's own format.
///
/// The kinds follow django-anymail's vocabulary, which applications already know from other
/// mail libraries.
public struct ProviderEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// The provider queued the email for delivery.
        case queued
        /// The provider handed the email to the recipient's server (or accepted it to do so).
        case sent
        /// The provider refused to send to the recipient (suppressed, invalid, policy).
        case rejected
        /// The provider gave up for a reason other than a bounce.
        case failed
        case bounced
        /// Delivery is delayed; the provider keeps trying.
        case deferred
        case delivered
        case autoresponded
        case opened
        case clicked
        /// The recipient marked the email as spam.
        case complained
        case unsubscribed
        /// An event Herald does not map; kept with its payload.
        case unknown
    }

    /// A bounce's weight: a hard bounce will not succeed later, a soft one may.
    public struct Bounce: Sendable, Equatable, Codable {
        public enum Severity: String, Sendable, Codable {
            case hard
            case soft
            /// The provider could not tell (Amazon SES's `Undetermined`).
            case undetermined
        }

        public var severity: Severity
        /// The provider's own type and subtype, such as `Permanent/NoEmail` or `HardBounce`.
        public var classification: String
        /// The receiving server's answer, where the provider passes it on.
        public var diagnostic: String?

        public init(severity: Severity, classification: String, diagnostic: String? = nil) {
            self.severity = severity
            self.classification = classification
            self.diagnostic = diagnostic
        }
    }

    /// Stable for one event of one provider, whichever of its repeats carries it: the
    /// provider's own event id, or one derived from the event's identifying fields.
    public var id: String
    /// The configured provider name the event came in for.
    public var provider: String
    public var kind: Kind
    /// When the provider says it happened.
    public var occurredAt: Date
    public var recipient: String?
    /// Herald's id, where the provider passed back the custom data Herald sent with the email.
    public var emailID: EmailID?
    /// The provider's id for the message, for matching when the custom data did not come back.
    public var providerMessageID: String?
    public var bounce: Bounce?
    /// A short note safe to show: a rejection reason, or the URL clicked.
    public var detail: String?
    /// The provider's payload for this event, at most ``maxPayloadBytes``.
    public var payload: [UInt8]

    /// Payload bytes kept per event: enough to read a bounce's diagnostic, not enough for one
    /// provider's oversized event to bloat the history.
    public static let maxPayloadBytes = 8 * 1024

    public init(
        id: String, provider: String, kind: Kind, occurredAt: Date, recipient: String?, emailID: EmailID? = nil,
        providerMessageID: String? = nil, bounce: Bounce? = nil, detail: String? = nil, payload: [UInt8] = []
    ) {
        self.id = id
        self.provider = provider
        self.kind = kind
        self.occurredAt = occurredAt
        self.recipient = recipient
        self.emailID = emailID
        self.providerMessageID = providerMessageID
        self.bounce = bounce
        self.detail = detail
        self.payload = payload.count > Self.maxPayloadBytes ? Array(payload.prefix(Self.maxPayloadBytes)) : payload
    }
}

/// A provider event as stored in an email's history.
public struct RecordedProviderEvent: Sendable, Equatable {
    public var event: ProviderEvent
    /// When Herald received it.
    public var receivedAt: Date

    public init(event: ProviderEvent, receivedAt: Date) {
        self.event = event
        self.receivedAt = receivedAt
    }
}

/// What became of one incoming provider event.
public enum ProviderEventOutcome: String, Sendable, Equatable {
    /// Matched to an email and written to its history.
    case recorded
    /// The same event (provider and id) was recorded before; nothing was written.
    case duplicate
    /// No email of Herald's matches it; nothing was written.
    case unmatched
}

/// Where provider events are kept, with the emails they belong to.
public protocol ProviderEventStore: Sendable {
    /// Records `events` in one transaction. Each is matched to its email (by
    /// ``ProviderEvent/emailID``, else by provider and ``ProviderEvent/providerMessageID``),
    /// dropped when the provider's event with that id was recorded before, added to the email's
    /// history, moves its recipient's ``RecipientState`` forward, and suppresses the recipient
    /// for the email's tenant as `policy` says. Returns each event's outcome, in order.
    func record(_ events: [ProviderEvent], receivedAt: Date, policy: EventSuppressionPolicy) async throws -> [ProviderEventOutcome]

    /// Counts a request to a provider's event endpoint that was refused: a signature that does
    /// not check out, a replay, a payload that cannot be read.
    func countRefusedEventRequest(provider: String, at: Date) async throws

    /// Per provider, its events and refused requests since `since` (counted by the hour, so
    /// up to an hour more), and when its last event arrived.
    func eventStatistics(since: Date) async throws -> [String: ProviderEventStatistics]
}

public struct ProviderEventStatistics: Sendable, Equatable {
    public var events: Int
    public var refusedRequests: Int
    public var lastEventAt: Date?

    public init(events: Int = 0, refusedRequests: Int = 0, lastEventAt: Date? = nil) {
        self.events = events
        self.refusedRequests = refusedRequests
        self.lastEventAt = lastEventAt
    }
}

/// Where provider events go once they came in: the store, with their metrics and logs.
/// Incoming requests and the sandbox's simulated events take the same way.
public protocol ProviderEventSink: Sendable {
    func record(_ events: [ProviderEvent]) async throws -> [ProviderEventOutcome]

    /// Notes a refused request to `provider`'s event endpoint.
    func refused(provider: String, because rejection: EventRejection) async

    /// Records `events` once `delay` has passed, in the background. For simulated events
    /// only: they are lost if the process stops first.
    func recordLater(_ events: [ProviderEvent], after delay: Duration)
}

/// A request to `/events/{provider}` as a provider's receiver reads it.
public struct InboundEventRequest: Sendable {
    /// `GET` or `POST`.
    public var method: String
    /// Header values by lower-cased name; a repeated header's values joined by `,`.
    public var headers: [String: String]
    public var query: [String: String]
    public var body: [UInt8]
    public var receivedAt: Date

    public init(method: String, headers: [String: String], query: [String: String], body: [UInt8], receivedAt: Date) {
        self.method = method
        self.headers = headers
        self.query = query
        self.body = body
        self.receivedAt = receivedAt
    }
}

/// Turns a provider's event requests into ``ProviderEvent``s once their authenticity checks
/// out, as the provider documents it.
public protocol ProviderEventReceiver: Sendable {
    func events(from request: InboundEventRequest) async throws(EventRejection) -> [ProviderEvent]
}

/// Why an event request was refused. The message is safe to log and to answer with: it never
/// repeats the payload.
public struct EventRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No credentials, or credentials or a signature that do not check out.
        case unauthenticated
        /// Signed correctly but too old, or seen before.
        case replayed
        /// The payload cannot be read as the provider's format.
        case malformed
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

extension ProviderEventStatistics {
    /// The start of the UTC hour that holds `date`, in milliseconds since 1970: the bucket
    /// stores count events in.
    public static func hourStart(of date: Date) -> Int64 {
        let milliseconds = date.milliseconds
        let hour: Int64 = 3_600_000
        return milliseconds >= 0 ? milliseconds / hour * hour : (milliseconds - hour + 1) / hour * hour
    }
}
