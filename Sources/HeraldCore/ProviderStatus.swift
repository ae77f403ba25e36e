#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A provider's health as operators see it.
public struct ProviderStatus: Sendable, Equatable {
    /// The state that decides whether the provider gets traffic, most severe first when
    /// several apply.
    public enum State: String, Sendable, Codable, CaseIterable {
        /// An operator paused it: no attempts until resumed.
        case paused
        /// Its breaker is open: no attempts until the open time has passed.
        case open
        /// Its breaker lets a few probe calls through.
        case halfOpen = "half_open"
        /// It asked for a pause (Retry-After), or its send-rate limit is used up for now.
        case throttled
        /// Its daily or monthly quota, or its own reported quota, is used up.
        case quotaExhausted = "quota_exhausted"
        /// Slower than its slow threshold: still used, but after the healthy ones.
        case degraded
        case healthy
    }

    public struct Quota: Sendable, Equatable {
        /// `day`, `month`, or `rolling_24h` for a limit the provider reports.
        public var period: String
        public var used: Int
        /// Nil when the period has no limit and sends are only counted.
        public var limit: Int?
        public var resetsAt: Date?

        public init(period: String, used: Int, limit: Int?, resetsAt: Date?) {
            self.period = period
            self.used = used
            self.limit = limit
            self.resetsAt = resetsAt
        }
    }

    public var name: String
    public var kind: String
    public var priority: Int
    public var weight: Double
    public var state: State
    /// Why the provider is not healthy, for people; nil when healthy.
    public var reason: String?
    /// `closed`, `open` or `half_open`.
    public var breakerState: String
    public var breakerOpenUntil: Date?
    public var breaker: CircuitBreaker.Configuration
    /// A p95 latency above this makes the provider degraded.
    public var slowThreshold: Duration
    public var latency: LatencyTracker.Summary
    /// Calls in the breaker's window, and the share that succeeded (nil with no calls).
    public var recentCalls: Int
    public var recentSuccessRate: Double?
    /// Failed calls in the window by error class, for the classes that occurred.
    public var recentFailures: [ErrorClass: Int]
    public var sendsLastMinute: Int
    public var ratePerSecond: Double?
    public var quotas: [Quota]
    /// The provider asked not to be called before this time.
    public var throttledUntil: Date?
    /// The latency window slot by slot, oldest first.
    public var latencyHistory: [LatencyTracker.Point] = []
    /// The provider's last changes of state, oldest first; see ``Change``.
    public var changes: [Change] = []
    /// How a sandbox provider behaves now; nil for every other kind.
    public var sandbox: SandboxBehavior?

    /// A change of state as this process saw it: when a call's outcome, an operator or the
    /// store changed it, or when a status was read after time alone changed it (a breaker's
    /// open period ending). A send-rate limit used up for a moment is not a change.
    public struct Change: Sendable, Equatable {
        public var state: State
        public var reason: String?
        public var at: Date

        public init(state: State, reason: String?, at: Date) {
            self.state = state
            self.reason = reason
            self.at = at
        }
    }

    public init(
        name: String, kind: String, priority: Int, weight: Double, state: State, reason: String?, breakerState: String,
        breakerOpenUntil: Date?, breaker: CircuitBreaker.Configuration, slowThreshold: Duration,
        latency: LatencyTracker.Summary, recentCalls: Int, recentSuccessRate: Double?, recentFailures: [ErrorClass: Int],
        sendsLastMinute: Int,
        ratePerSecond: Double?, quotas: [Quota], throttledUntil: Date?
    ) {
        self.name = name
        self.kind = kind
        self.priority = priority
        self.weight = weight
        self.state = state
        self.reason = reason
        self.breakerState = breakerState
        self.breakerOpenUntil = breakerOpenUntil
        self.breaker = breaker
        self.slowThreshold = slowThreshold
        self.latency = latency
        self.recentCalls = recentCalls
        self.recentSuccessRate = recentSuccessRate
        self.recentFailures = recentFailures
        self.sendsLastMinute = sendsLastMinute
        self.ratePerSecond = ratePerSecond
        self.quotas = quotas
        self.throttledUntil = throttledUntil
    }
}
