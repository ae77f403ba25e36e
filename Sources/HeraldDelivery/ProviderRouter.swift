import Foundation
import HeraldCore
import Synchronization

/// Chooses which provider gets the next attempt, and keeps what it learns about each one:
/// its circuit breaker, recent calls, and any pause the provider asked for.
///
/// Providers are tried in priority order (lowest number first). A provider is skipped while its
/// breaker is open or while it is throttled by a Retry-After it sent.
public final class ProviderRouter: Sendable {
    public struct Route: Sendable {
        public var provider: any EmailProvider
        public var priority: Int
        /// How long one call may take before its outcome is taken as unknown.
        public var timeout: Duration

        public init(provider: any EmailProvider, priority: Int, timeout: Duration) {
            self.provider = provider
            self.priority = priority
            self.timeout = timeout
        }

        public var name: String { provider.name }
    }

    /// Why a provider was passed over for an attempt.
    public enum Skip: Error, Equatable {
        case breakerOpen
        case throttled(until: Date)
    }

    private struct Health {
        var breaker: CircuitBreaker
        var recent: SlidingWindow
        var throttledUntil: Date?
    }

    /// In priority order; ties keep their configuration order.
    public let routes: [Route]
    private let health: Mutex<[String: Health]>

    public init(routes: [Route], breaker: CircuitBreaker.Configuration) {
        self.routes = routes.enumerated().sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        self.health = Mutex(
            Dictionary(
                uniqueKeysWithValues: routes.map { route in
                    (route.name, Health(breaker: CircuitBreaker(configuration: breaker), recent: SlidingWindow(duration: breaker.window)))
                })
        )
    }

    /// Asks leave to call `route` now.
    public func acquire(_ route: Route, now: Date) -> Result<CircuitBreaker.Permit, Skip> {
        health.withLock { health in
            if let until = health[route.name]?.throttledUntil, until > now {
                return .failure(.throttled(until: until))
            }
            guard let permit = health[route.name]?.breaker.acquire(now: now) else {
                return .failure(.breakerOpen)
            }
            return .success(permit)
        }
    }

    /// Gives back leave for a call that never happened.
    public func release(_ route: Route, permit: CircuitBreaker.Permit) {
        health.withLock { $0[route.name]?.breaker.release(permit) }
    }

    /// Learns from a call's outcome.
    public func record(_ route: Route, permit: CircuitBreaker.Permit, failure: ProviderFailure?, latency: Duration, now: Date) {
        health.withLock { health in
            guard var entry = health[route.name] else { return }
            let unhealthy = failure?.errorClass.countsAgainstProvider ?? false
            entry.recent.record(failed: failure != nil, latency: latency, at: now)
            if failure?.errorClass == .providerFatal {
                entry.breaker.trip(now: now)
            } else {
                entry.breaker.record(unhealthy ? .failure : .success, latency: latency, permit: permit, now: now)
            }
            if let retryAfter = failure?.retryAfter {
                entry.throttledUntil = now.adding(retryAfter)
            }
            health[route.name] = entry
        }
    }

    public func statuses(now: Date) -> [ProviderStatus] {
        health.withLock { health in
            routes.map { route in
                let entry = health[route.name]!
                let totals = entry.recent.totals(at: now)
                let state = entry.breaker.state(at: now)
                var openUntil: Date?
                if case .open(let until) = state { openUntil = until }
                return ProviderStatus(
                    name: route.name,
                    kind: route.provider.kind,
                    priority: route.priority,
                    breakerState: state.name,
                    breakerOpenUntil: openUntil,
                    throttledUntil: entry.throttledUntil.flatMap { $0 > now ? $0 : nil },
                    recentCalls: totals.calls,
                    recentSuccessRate: totals.successRate,
                    recentMeanLatencyMilliseconds: totals.meanLatency.map { Int($0.milliseconds) }
                )
            }
        }
    }
}
