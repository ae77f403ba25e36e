#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which failed emails Herald queues again by itself, and how often: an outage longer than an
/// email's retries fails it, and once the providers are back it should go out without anyone
/// retrying it by hand.
public struct RedrivePolicy: Sendable, Equatable {
    public var enabled = true
    /// How long a failed email stays failed before it is queued again, unless a provider
    /// recovers sooner.
    public var interval: Duration = .seconds(3600)
    /// How many times one email is queued again; a manual retry starts the count afresh.
    public var maxTimes = 3
    /// Emails accepted longer ago than this are left failed.
    public var maxAge: Duration = .seconds(7 * 24 * 3600)
    /// The classes of failure worth another try. A permanent or recipient failure would only
    /// fail again, so they are never redriven, whatever the configuration says.
    public var errorClasses: Set<ErrorClass> = [.transient, .providerFatal, .ambiguous]

    /// The classes a redrive may never take.
    public static let neverRedriven: Set<ErrorClass> = [.permanent, .recipient]

    public init() {}

    /// The failed emails to queue again at `now`: those that failed before `failedBefore`.
    public func selection(failedBefore: Date, now: Date, reason: String) -> RedriveSelection {
        RedriveSelection(
            errorClasses: errorClasses, redrivenFewerThan: maxTimes, acceptedAfter: now.adding(.zero - maxAge),
            failedBefore: failedBefore, reason: reason)
    }
}

/// The failed emails a redrive queues again: each one whose failure is of one of
/// ``errorClasses``, that was redriven fewer than ``redrivenFewerThan`` times since it was
/// accepted or last retried by hand, was accepted after ``acceptedAfter`` and failed before
/// ``failedBefore``.
public struct RedriveSelection: Sendable, Equatable {
    public var errorClasses: Set<ErrorClass>
    public var redrivenFewerThan: Int
    public var acceptedAfter: Date
    public var failedBefore: Date
    /// Why they are queued again, for their histories.
    public var reason: String

    public init(errorClasses: Set<ErrorClass>, redrivenFewerThan: Int, acceptedAfter: Date, failedBefore: Date, reason: String) {
        self.errorClasses = errorClasses
        self.redrivenFewerThan = redrivenFewerThan
        self.acceptedAfter = acceptedAfter
        self.failedBefore = failedBefore
        self.reason = reason
    }
}

/// Decides when failed emails are queued again; the caller looks at the providers and the
/// clock, asks ``next(now:conditions:)``, and carries out what it returns.
///
/// There are two occasions. The interval, checked at least once a minute, so that an email
/// waits about ``RedrivePolicy/interval`` after its failure. And a provider that was paused,
/// open, half-open, asking for a pause or out of quota becoming healthy (or degraded) again:
/// that redrives every email the policy allows at once, however recent its failure, since those
/// failures most likely came from the outage that just ended. A half-open breaker is not yet a
/// recovery: its probes may fail, and each redrive spent on them is one fewer for later; it
/// closes once probes (the application's new emails, or the interval's redrives) succeed.
///
/// Neither occasion redrives while no provider can take an email (every one paused, open,
/// asking for a pause or out of quota), which would only spend the emails' redrives on
/// another failure.
public struct RedriveSchedule: Sendable {
    public enum Action: Sendable, Equatable {
        case wait
        case redrive(RedriveSelection)
    }

    public let policy: RedrivePolicy
    private var nextIntervalCheck: Date
    /// The providers that were not healthy at the last look.
    private var recovering: Set<String> = []

    public init(policy: RedrivePolicy, now: Date) {
        self.policy = policy
        self.nextIntervalCheck = now
    }

    /// How often the interval is checked: a failed email waits at most this much past its interval.
    public var checkEvery: Duration { min(policy.interval, .seconds(60)) }

    /// What to do at `now`, given each provider's lasting condition.
    public mutating func next(now: Date, conditions: [String: ProviderStatus.State]) -> Action {
        guard policy.enabled else { return .wait }
        let recoveringNow = Set(conditions.filter { !Self.healthy.contains($0.value) }.keys)
        let recovered = recovering.subtracting(recoveringNow).sorted()
        recovering = recoveringNow
        guard conditions.values.contains(where: { !Self.unavailable.contains($0) }) else { return .wait }
        if !recovered.isEmpty {
            let names = recovered.joined(separator: ", ")
            return .redrive(policy.selection(failedBefore: now, now: now, reason: "provider_recovered: \(names)"))
        }
        guard now >= nextIntervalCheck else { return .wait }
        nextIntervalCheck = now.adding(checkEvery)
        return .redrive(policy.selection(failedBefore: now.adding(.zero - policy.interval), now: now, reason: "interval"))
    }

    /// Conditions in which a provider takes emails as usual.
    static let healthy: Set<ProviderStatus.State> = [.healthy, .degraded]
    /// Conditions in which a provider takes no email for a while.
    static let unavailable: Set<ProviderStatus.State> = [.paused, .open, .throttled, .quotaExhausted]
}
