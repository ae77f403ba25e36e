import Foundation
import HeraldCore
import Hummingbird
import Metrics
import Synchronization

/// `GET /metrics`: the process's metrics in Prometheus' text format.
///
/// The gauges that mirror state kept elsewhere (the queue in the store, the breakers in the
/// router) are set at scrapes, so they cost nothing between scrapes. The queue's counts are
/// read from the store at most once a second, however many scrapers there are: they count the
/// whole queue. The exposition itself comes from the server, which alone knows the metrics
/// backend.
public struct MetricsController<Context: RequestContext>: Sendable {
    let store: any EmailStore
    let providers: any ProviderAdministration
    let clock: any WallClock
    let metricsFactory: any MetricsFactory
    let exposition: @Sendable () -> [UInt8]
    private let queueCounts = QueueCounts()
    private let droppedLogLines: ReportedCount

    /// `exposition` renders every metric recorded through `metricsFactory` in the text format;
    /// `droppedLogLines` counts the log lines the process could not write.
    public init(
        store: any EmailStore, providers: any ProviderAdministration, clock: any WallClock, metricsFactory: any MetricsFactory,
        droppedLogLines: @escaping @Sendable () -> Int = { 0 }, exposition: @escaping @Sendable () -> [UInt8]
    ) {
        self.droppedLogLines = ReportedCount(read: droppedLogLines)
        self.store = store
        self.providers = providers
        self.clock = clock
        self.metricsFactory = metricsFactory
        self.exposition = exposition
    }

    /// `/metrics`, on `router` or on a group that asks for a key (`metrics.require_key`).
    public func addRoutes(to router: some RouterMethods<Context>) {
        router.get("metrics", use: scrape)
    }

    @Sendable func scrape(request: Request, context: Context) async throws -> Response {
        let now = clock.now
        let queue = try await queueCounts.statistics(at: now) { try await store.queueStatistics(now: now) }
        for (status, count) in queue.emailsByStatus {
            Gauge(label: "herald_queue_emails", dimensions: [("status", status.rawValue)], factory: metricsFactory).record(count)
        }
        let oldestDueAge = queue.oldestDueAt.map { max(0, now.timeIntervalSince($0)) } ?? 0
        Gauge(label: "herald_oldest_due_email_age_seconds", factory: metricsFactory).record(oldestDueAge)
        Counter(label: "herald_log_lines_dropped_total", factory: metricsFactory).increment(by: droppedLogLines.unreported())
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

/// The last reading of the queue, kept for a second.
private final class QueueCounts: Sendable {
    static let lifetime: TimeInterval = 1
    private let last = Mutex<(at: Date, statistics: QueueStatistics)?>(nil)

    func statistics(at now: Date, reading read: () async throws -> QueueStatistics) async throws -> QueueStatistics {
        // A clock stepped back makes the reading stale too.
        let fresh = last.withLock { last in
            last.flatMap { (0..<Self.lifetime).contains(now.timeIntervalSince($0.at)) ? $0.statistics : nil }
        }
        if let fresh { return fresh }
        let statistics = try await read()
        last.withLock { $0 = (now, statistics) }
        return statistics
    }
}

/// A count kept elsewhere, reported to a counter as what it grew by since the last scrape.
private final class ReportedCount: Sendable {
    private let read: @Sendable () -> Int
    private let reported = Mutex(0)

    init(read: @escaping @Sendable () -> Int) {
        self.read = read
    }

    func unreported() -> Int {
        let now = read()
        return reported.withLock { reported in
            defer { reported = max(reported, now) }
            return max(0, now - reported)
        }
    }
}
