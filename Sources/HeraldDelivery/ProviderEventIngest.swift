import Foundation
import HeraldCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Takes the events providers report (through their webhooks, or the sandbox's simulated
/// ones) into the store, where each moves its recipient's state and may suppress it, and
/// counts them.
///
/// As a `Service` it also records the events scheduled with ``recordLater(_:after:)``, in the
/// order they were scheduled.
public final class ProviderEventIngest: ProviderEventSink, Service {
    let store: any ProviderEventStore
    let policy: EventSuppressionPolicy
    let clock: any WallClock
    let logger: Logger
    private let factory: any MetricsFactory
    /// The counter of each provider, type and outcome once made: a batch of a thousand events
    /// would otherwise look each up in the factory's registry, under its lock.
    private let counters = Mutex<[String: Counter]>([:])
    /// When each provider's last refusal was logged and how many came since: one line a
    /// minute per provider at most, so that a flood of forged requests does not flood the log
    /// (the metric and `/v1/providers` count every one).
    private let refusalLog = Mutex<[String: (loggedAt: Date, since: Int)]>([:])
    static let refusalLogInterval: TimeInterval = 60
    private let scheduled: AsyncStream<Scheduled>
    private let schedule: AsyncStream<Scheduled>.Continuation

    private struct Scheduled: Sendable {
        let events: [ProviderEvent]
        let due: ContinuousClock.Instant
    }

    /// Simulated events waiting for their time at most; more are dropped, with a warning.
    static let scheduledLimit = 10_000

    /// `metricsFactory` receives `herald_provider_events_total` (provider, type, outcome).
    public init(
        store: any ProviderEventStore, policy: EventSuppressionPolicy, clock: any WallClock, metricsFactory: any MetricsFactory,
        logger: Logger
    ) {
        self.store = store
        self.policy = policy
        self.clock = clock
        self.factory = metricsFactory
        self.logger = logger
        (scheduled, schedule) = AsyncStream.makeStream(of: Scheduled.self, bufferingPolicy: .bufferingOldest(Self.scheduledLimit))
    }

    public func record(_ events: [ProviderEvent]) async throws -> [ProviderEventOutcome] {
        guard !events.isEmpty else { return [] }
        let outcomes = try await store.record(events, receivedAt: clock.now, policy: policy)
        for (event, outcome) in zip(events, outcomes) {
            counter(provider: event.provider, kind: event.kind, outcome: outcome).increment()
            if outcome == .unmatched {
                logger.info(
                    "provider event matches no email", metadata: ["provider": "\(event.provider)", "event_id": "\(event.id)"])
            }
        }
        return outcomes
    }

    private func counter(provider: String, kind: ProviderEvent.Kind, outcome: ProviderEventOutcome) -> Counter {
        counters.withLock { counters in
            let key = "\(provider) \(kind.rawValue) \(outcome.rawValue)"
            if let made = counters[key] { return made }
            let made = Counter(
                label: "herald_provider_events_total",
                dimensions: [("provider", provider), ("type", kind.rawValue), ("outcome", outcome.rawValue)], factory: factory)
            counters[key] = made
            return made
        }
    }

    /// Counts a refused request to a provider's event endpoint; a count that fails is logged,
    /// not thrown: the request is refused either way.
    public func refused(provider: String, because rejection: EventRejection) async {
        Counter(label: "herald_provider_event_requests_refused_total", dimensions: [("provider", provider)], factory: factory).increment()
        let now = clock.now
        let unlogged = refusalLog.withLock { log -> Int? in
            if let last = log[provider], now.timeIntervalSince(last.loggedAt) < Self.refusalLogInterval {
                log[provider] = (last.loggedAt, last.since + 1)
                return nil
            }
            defer { log[provider] = (now, 0) }
            return log[provider]?.since ?? 0
        }
        if let unlogged {
            logger.notice(
                "refused a provider event request",
                metadata: [
                    "provider": "\(provider)", "reason": "\(rejection.code.rawValue)", "refused_since_last_line": "\(unlogged)",
                ])
        }
        do {
            try await store.countRefusedEventRequest(provider: provider, at: clock.now)
        } catch {
            logger.warning("could not count a refused event request", metadata: ["provider": "\(provider)", "error": "\(error)"])
        }
    }

    public func recordLater(_ events: [ProviderEvent], after delay: Duration) {
        if case .dropped = schedule.yield(Scheduled(events: events, due: .now + delay)) {
            logger.warning("too many simulated events wait; dropped some", metadata: ["count": "\(events.count)"])
        }
    }

    /// Records the scheduled events as they fall due, until graceful shutdown; those still
    /// waiting then are dropped (they are simulated).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await item in self.scheduled {
                do {
                    try await Task.sleep(until: item.due)
                } catch {
                    return
                }
                do {
                    _ = try await self.record(item.events)
                } catch {
                    self.logger.warning("could not record simulated provider events", metadata: ["error": "\(error)"])
                }
            }
        }
        schedule.finish()
    }
}
