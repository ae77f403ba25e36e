#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far one recipient's copy of an email got, as the provider's events tell it.
///
/// Events arrive late, out of order and more than once, so the state only moves forward:
/// each state has a rank, and an event changes the state only to one of a higher rank. A late
/// `delivered` therefore never hides a bounce or a complaint, and an open or a click, which
/// only a delivered email can have, counts as delivered.
public struct RecipientState: Sendable, Equatable {
    public enum Phase: String, Sendable, Codable, CaseIterable {
        /// The email was sent; the provider has not said more.
        case sent
        /// The provider is still trying (a deferral or a soft bounce it retries).
        case deferred
        case delivered
        /// The provider gave up on the recipient: a bounce, a rejection or a failure.
        case bounced
        case failed
        case unsubscribed
        /// The recipient marked the email as spam.
        case complained

        /// Higher ranks win. A complaint tops everything (it follows a delivery), a failure or
        /// bounce tops delivery (a delivered event that arrives after the bounce is stale),
        /// and an unsubscribe says more than a delivery.
        var rank: Int {
            switch self {
            case .sent: 0
            case .deferred: 1
            case .delivered: 2
            case .unsubscribed: 3
            case .bounced, .failed: 4
            case .complained: 5
            }
        }
    }

    public var address: String
    public var phase: Phase
    /// The time of the event that set the phase.
    public var updatedAt: Date
    /// The bounce that set the phase, for ``Phase/bounced``.
    public var bounce: ProviderEvent.Bounce?

    public init(address: String, phase: Phase, updatedAt: Date, bounce: ProviderEvent.Bounce? = nil) {
        self.address = address
        self.phase = phase
        self.updatedAt = updatedAt
        self.bounce = bounce
    }

    /// The phase an event of `kind` (with `bounce`) puts a recipient in; nil for events that
    /// say nothing of delivery (`queued`, `unknown`).
    public static func phase(after kind: ProviderEvent.Kind, bounce: ProviderEvent.Bounce?) -> Phase? {
        switch kind {
        case .queued, .unknown: nil
        case .sent: .sent
        case .deferred: .deferred
        // A soft bounce that the provider still retries is a delay; a soft bounce reported as
        // final (most providers stop after one) is a bounce like any other.
        case .bounced: .bounced
        case .rejected, .failed: .failed
        case .delivered, .autoresponded, .opened, .clicked: .delivered
        case .unsubscribed: .unsubscribed
        case .complained: .complained
        }
    }

    /// The state after `event`: `current` (nil before the first event) moved forward, or left
    /// as it is when the event ranks lower or equal.
    public static func applying(_ event: ProviderEvent, to current: RecipientState?, address: String) -> RecipientState? {
        guard let phase = phase(after: event.kind, bounce: event.bounce) else { return current }
        if let current, current.phase.rank >= phase.rank { return current }
        return RecipientState(
            address: address, phase: phase, updatedAt: event.occurredAt, bounce: phase == .bounced ? event.bounce : nil)
    }
}

/// Which provider events put a recipient on the tenant's suppression list.
public struct EventSuppressionPolicy: Sendable, Equatable {
    public var hardBounces: Bool
    public var complaints: Bool
    public var unsubscribes: Bool
    /// Soft bounces suppress once this many arrived for the address within ``softBounceWindow``;
    /// nil never.
    public var softBounceLimit: Int?
    public var softBounceWindow: Duration

    public init(
        hardBounces: Bool = true, complaints: Bool = true, unsubscribes: Bool = false, softBounceLimit: Int? = 3,
        softBounceWindow: Duration = .seconds(72 * 3600)
    ) {
        self.hardBounces = hardBounces
        self.complaints = complaints
        self.unsubscribes = unsubscribes
        self.softBounceLimit = softBounceLimit
        self.softBounceWindow = softBounceWindow
    }

    /// What the event does to its recipient's place on the list.
    public enum Verdict: Sendable, Equatable {
        case none
        /// Suppress now, for this reason.
        case suppress(reason: String)
        /// Suppress if the soft bounces in the window, this one included, reach the limit.
        case countSoftBounce(limit: Int, since: Date)
    }

    public func verdict(for event: ProviderEvent) -> Verdict {
        switch event.kind {
        case .bounced:
            switch event.bounce?.severity {
            case .hard?:
                return hardBounces ? .suppress(reason: "hard_bounce: \(event.bounce?.classification ?? "")") : .none
            case .soft?, .undetermined?, nil:
                guard let softBounceLimit else { return .none }
                return .countSoftBounce(limit: softBounceLimit, since: event.occurredAt.adding(.zero - softBounceWindow))
            }
        case .complained: return complaints ? .suppress(reason: "complaint") : .none
        case .unsubscribed: return unsubscribes ? .suppress(reason: "unsubscribed") : .none
        default: return .none
        }
    }
}

/// What recording one matched, new provider event changes besides the history.
public struct ProviderEventEffects: Sendable, Equatable {
    /// The recipient's state to write; nil when it stays as it was.
    public var recipientState: RecipientState?
    /// The entry to add to the tenant's suppression list.
    public var suppression: Suppression?

    /// The effects of `event` on `emailID`'s recipient, whose state is `current`.
    /// `softBouncesInWindow` counts the recipient's soft bounces since a time, this event
    /// included (it is in the history already); it is called only when `policy` needs it.
    public init(
        of event: ProviderEvent, emailID: EmailID, current: RecipientState?, policy: EventSuppressionPolicy,
        softBouncesInWindow: (_ since: Date) throws -> Int
    ) rethrows {
        guard let address = event.recipient.map(Suppression.key(of:)) else {
            self.recipientState = nil
            self.suppression = nil
            return
        }
        let next = RecipientState.applying(event, to: current, address: address)
        recipientState = next == current ? nil : next
        let reason: String?
        switch policy.verdict(for: event) {
        case .none: reason = nil
        case .suppress(let why): reason = why
        case .countSoftBounce(let limit, let since):
            let count = try softBouncesInWindow(since)
            reason = count >= limit ? "soft_bounces: \(count) since \(UTCTime(since).iso8601)" : nil
        }
        suppression = reason.map {
            Suppression(
                address: address, reason: $0, source: .event, emailID: emailID, eventID: "\(event.provider):\(event.id)",
                createdAt: event.occurredAt)
        }
    }
}
