#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One provider as `GET /v1/providers` shows it.
///
/// Decoding is tolerant because the routing fields are growing: servers that report `type`,
/// `breaker_state` and `breaker_open_until` and servers that report `kind`, `state`,
/// `breaker {state, open_until, open_seconds, half_open_probes}`, `slow_ms` and `quota` both
/// decode, and every field beyond `name` and `priority` may be missing.
public struct ProviderSnapshot: Sendable, Equatable, Decodable {
    public struct Quota: Sendable, Equatable, Decodable {
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

    /// Whether the breaker refuses calls; a half-open breaker lets probes through and is not open.
    public var isBreakerOpen: Bool { (breakerState ?? state) == "open" }

    private enum CodingKeys: String, CodingKey {
        case name, kind, type, priority, state, reason, breaker, quota
        case breakerState = "breaker_state"
        case breakerOpenUntil = "breaker_open_until"
        case slowMilliseconds = "slow_ms"
        case throttledUntil = "throttled_until"
    }

    private struct Breaker: Decodable {
        var state: String?
        var openUntil: Date?
        var openSeconds: Double?
        var halfOpenProbes: Int?

        enum CodingKeys: String, CodingKey {
            case state
            case openUntil = "open_until"
            case openSeconds = "open_seconds"
            case halfOpenProbes = "half_open_probes"
        }
    }

    private struct Quotas: Decodable {
        var daily: Quota?
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let breaker = try container.decodeIfPresent(Breaker.self, forKey: .breaker)
        let throttledUntil = try container.decodeIfPresent(Date.self, forKey: .throttledUntil)
        let breakerState = try breaker?.state ?? container.decodeIfPresent(String.self, forKey: .breakerState)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            kind: try container.decodeIfPresent(String.self, forKey: .kind) ?? container.decodeIfPresent(String.self, forKey: .type),
            priority: try container.decode(Int.self, forKey: .priority),
            state: try container.decodeIfPresent(String.self, forKey: .state)
                ?? Self.state(breakerState: breakerState, throttled: throttledUntil != nil),
            reason: try container.decodeIfPresent(String.self, forKey: .reason),
            breakerState: breakerState,
            openUntil: try breaker?.openUntil ?? container.decodeIfPresent(Date.self, forKey: .breakerOpenUntil),
            openSeconds: breaker?.openSeconds,
            halfOpenProbes: breaker?.halfOpenProbes,
            slowMilliseconds: try container.decodeIfPresent(Int.self, forKey: .slowMilliseconds),
            dailyQuota: try container.decodeIfPresent(Quotas.self, forKey: .quota)?.daily,
            throttledUntil: throttledUntil
        )
    }

    /// The overall state of a server that reports only its breaker and throttle. Such a server
    /// sends `throttled_until` only while it lies ahead.
    private static func state(breakerState: String?, throttled: Bool) -> String {
        if throttled { return "throttled" }
        switch breakerState {
        case "closed", nil: return "healthy"
        case let state?: return state
        }
    }
}
