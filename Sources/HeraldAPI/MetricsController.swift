import Foundation
import HeraldCore
import Hummingbird
import Metrics

/// `GET /metrics`: the process's metrics in Prometheus' text format.
///
/// The gauges that mirror state kept elsewhere (the queue in the store, the breakers in the
/// router) are set at each scrape, so they are as fresh as the scrape and cost nothing between
/// scrapes. The exposition itself comes from the server, which alone knows the metrics backend.
public struct MetricsController<Context: RequestContext>: Sendable {
    let store: any EmailStore
    let providers: any ProviderAdministration
    let clock: any WallClock
    let metricsFactory: any MetricsFactory
    let exposition: @Sendable () -> [UInt8]

    /// `exposition` renders every metric recorded through `metricsFactory` in the text format.
    public init(
        store: any EmailStore, providers: any ProviderAdministration, clock: any WallClock, metricsFactory: any MetricsFactory,
        exposition: @escaping @Sendable () -> [UInt8]
    ) {
        self.store = store
        self.providers = providers
        self.clock = clock
        self.metricsFactory = metricsFactory
        self.exposition = exposition
    }

    public func addRoutes(to router: Router<Context>) {
        router.get("metrics", use: scrape)
    }

    @Sendable func scrape(request: Request, context: Context) async throws -> Response {
        let now = clock.now
        let queue = try await store.queueStatistics(now: now)
        for (status, count) in queue.emailsByStatus {
            Gauge(label: "herald_queue_emails", dimensions: [("status", status.rawValue)], factory: metricsFactory).record(count)
        }
        let oldestDueAge = queue.oldestDueAt.map { max(0, now.timeIntervalSince($0)) } ?? 0
        Gauge(label: "herald_oldest_due_email_age_seconds", factory: metricsFactory).record(oldestDueAge)
        for provider in providers.statuses() {
            guard let value = provider.breakerStateValue else { continue }
            Gauge(label: "herald_breaker_state", dimensions: [("provider", provider.name)], factory: metricsFactory).record(value)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: exposition()))
        )
    }
}

extension ProviderStatus {
    /// Higher lets less traffic through, so that `max` over time shows the worst state.
    fileprivate var breakerStateValue: Int? {
        switch breakerState {
        case "closed": 0
        case "half_open": 1
        case "open": 2
        default: nil
        }
    }
}
