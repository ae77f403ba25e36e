import Foundation
import HeraldCore
import Metrics
import Synchronization

/// The dispatcher's metrics, through the swift-metrics factory it was given rather than the
/// global one, so that tests can read them from a factory of their own while running in parallel.
///
/// Label values are bounded: provider names come from the configuration, outcomes and error
/// classes are enums. Email ids and addresses never become labels.
final class DeliveryMetrics: Sendable {
    private struct AttemptSeries: Hashable {
        let provider: String
        let outcome: Attempt.Outcome
        let errorClass: ErrorClass?
    }

    private let factory: any MetricsFactory
    /// The metric objects of each series once made: making them for every attempt cost a
    /// lookup in the factory's registry, under its lock, with the labels built anew.
    private let attempts = Mutex<[AttemptSeries: (count: Counter, duration: Timer)]>([:])

    /// When the store last answered a lease, in seconds since 1970: the dispatcher's pulse.
    private let lastLease: Gauge

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.lastLease = Gauge(label: "herald_dispatcher_last_lease_timestamp_seconds", factory: factory)
    }

    func leased(at time: Date) {
        lastLease.record(time.timeIntervalSince1970)
    }

    /// One provider call and how it ended; the error class is `none` for a sent attempt.
    func attempt(provider: String, outcome: Attempt.Outcome, errorClass: ErrorClass?, latency: Duration) {
        let series = AttemptSeries(provider: provider, outcome: outcome, errorClass: errorClass)
        let metrics = attempts.withLock { attempts in
            if let made = attempts[series] { return made }
            let made = (
                count: Counter(
                    label: "herald_attempts_total",
                    dimensions: [("provider", provider), ("outcome", outcome.rawValue), ("error_class", errorClass?.rawValue ?? "none")],
                    factory: factory),
                duration: Timer(label: "herald_attempt_duration_seconds", dimensions: [("provider", provider)], factory: factory)
            )
            attempts[series] = made
            return made
        }
        metrics.count.increment()
        metrics.duration.record(duration: latency)
    }

    /// A round moving on to `to` right after an attempt on `from` failed with `reason`.
    func failover(from: String, to: String, reason: ErrorClass) {
        Counter(
            label: "herald_failovers_total", dimensions: [("from", from), ("to", to), ("reason", reason.rawValue)], factory: factory
        ).increment()
    }
}
