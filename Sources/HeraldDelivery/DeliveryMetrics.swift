import HeraldCore
import Metrics

/// The dispatcher's metrics, through the swift-metrics factory it was given rather than the
/// global one, so that tests can read them from a factory of their own while running in parallel.
///
/// Label values are bounded: provider names come from the configuration, outcomes and error
/// classes are enums. Email ids and addresses never become labels. The metric objects are made
/// at each call because their labels vary with it; the factory hands back the series it has.
struct DeliveryMetrics: Sendable {
    let factory: any MetricsFactory

    /// One provider call and how it ended; the error class is `none` for a sent attempt.
    func attempt(provider: String, outcome: Attempt.Outcome, errorClass: ErrorClass?, latency: Duration) {
        Counter(
            label: "herald_attempts_total",
            dimensions: [("provider", provider), ("outcome", outcome.rawValue), ("error_class", errorClass?.rawValue ?? "none")],
            factory: factory
        ).increment()
        Timer(label: "herald_attempt_duration_seconds", dimensions: [("provider", provider)], factory: factory)
            .record(duration: latency)
    }

    /// A round moving on to `to` right after an attempt on `from` failed with `reason`.
    func failover(from: String, to: String, reason: ErrorClass) {
        Counter(
            label: "herald_failovers_total", dimensions: [("from", from), ("to", to), ("reason", reason.rawValue)], factory: factory
        ).increment()
    }
}
