import Foundation
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Metrics
import Testing

@testable import HeraldDelivery

@Suite("Provider event ingest")
struct ProviderEventIngestTests {
    @Test func `a flood of refused requests logs a line a minute per provider, with how many came between`() async throws {
        let clock = ManualClock()
        let (logger, lines) = CapturingLogHandler.logger()
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            let ingest = ProviderEventIngest(
                store: store, policy: EventSuppressionPolicy(), clock: clock, metricsFactory: NOOPMetricsHandler.instance, logger: logger)
            let refusals = { lines.text.split(separator: "\n").filter { $0.contains("refused a provider event request") } }
            for _ in 0..<100 { await ingest.refused(provider: "grid", because: EventRejection(.unauthenticated, "bad signature")) }
            await ingest.refused(provider: "gun", because: EventRejection(.replayed, "seen"))
            #expect(refusals().count == 2, "the first of each provider")
            clock.advance(by: .seconds(61))
            await ingest.refused(provider: "grid", because: EventRejection(.unauthenticated, "bad signature"))
            let logged = refusals()
            #expect(logged.count == 3)
            #expect(logged.last?.contains(#""refused_since_last_line": 99"#) == true, "\(logged.last ?? "")")
            let counted = try await store.eventStatistics(since: clock.now.addingTimeInterval(-3600))
            #expect(counted["grid"]?.refusedRequests == 101, "every refusal is counted")
        }
    }
}
