import HeraldClient

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One provider as `GET /v1/providers` shows it, with what a drill judges by.
public struct ProviderSnapshot: Sendable, Equatable {
    public struct Quota: Sendable, Equatable {
        public var used: Int?
        /// nil when the provider has no limit.
        public var limit: Int?

        public init(used: Int?, limit: Int?) {
            self.used = used
            self.limit = limit
        }
    }

    public var name: String
    public var kind: String?
    public var priority: Int
    /// healthy, degraded, open, half_open, paused, throttled or quota_exhausted.
    public var state: String
    public var reason: String?
    /// The circuit breaker's own state: closed, open or half_open.
    public var breakerState: String?
    public var openUntil: Date?
    public var openSeconds: Double?
    public var halfOpenProbes: Int?
    /// Calls slower than this make the provider degraded.
    public var slowMilliseconds: Int?
    public var dailyQuota: Quota?
    public var throttledUntil: Date?

    public init(
        name: String, kind: String? = nil, priority: Int, state: String = "healthy", reason: String? = nil,
        breakerState: String? = nil, openUntil: Date? = nil, openSeconds: Double? = nil, halfOpenProbes: Int? = nil,
        slowMilliseconds: Int? = nil, dailyQuota: Quota? = nil, throttledUntil: Date? = nil
    ) {
        self.name = name
        self.kind = kind
        self.priority = priority
        self.state = state
        self.reason = reason
        self.breakerState = breakerState
        self.openUntil = openUntil
        self.openSeconds = openSeconds
        self.halfOpenProbes = halfOpenProbes
        self.slowMilliseconds = slowMilliseconds
        self.dailyQuota = dailyQuota
        self.throttledUntil = throttledUntil
    }

    /// The provider as the generated client reads it.
    public init(_ provider: Components.Schemas.Provider) {
        let daily = provider.quota.additionalProperties["daily"]
        self.init(
            name: provider.name, kind: provider._type, priority: provider.priority, state: provider.state.rawValue,
            reason: provider.reason, breakerState: provider.breaker.state.rawValue, openUntil: provider.breaker.openUntil,
            openSeconds: provider.breaker.openSeconds, halfOpenProbes: provider.breaker.halfOpenProbes,
            slowMilliseconds: provider.slowMs, dailyQuota: daily.map { Quota(used: $0.used, limit: $0.limit) },
            throttledUntil: provider.throttledUntil)
    }

    /// Whether the breaker refuses calls; a half-open breaker lets probes through and is not open.
    public var isBreakerOpen: Bool { (breakerState ?? state) == "open" }
}
