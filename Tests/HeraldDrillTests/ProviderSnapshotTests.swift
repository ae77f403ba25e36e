import Foundation
import Testing

@testable import HeraldDrill

@Suite("Provider snapshot")
struct ProviderSnapshotTests {
    static func decode(_ json: String) throws -> ProviderSnapshot {
        try JSONDecoder.herald.decode(ProviderSnapshot.self, from: Data(json.utf8))
    }

    @Test func `reads a server that reports only its breaker and throttle`() throws {
        let open = try Self.decode(
            #"{"breaker_open_until":"2027-01-15T08:00:03.250Z","breaker_state":"open","name":"primary","priority":1,"recent":{"calls":7},"type":"sandbox"}"#
        )
        #expect(open.kind == "sandbox")
        #expect(open.state == "open")
        #expect(open.isBreakerOpen)
        #expect(open.openUntil == Date(timeIntervalSince1970: 1_800_000_003.25))
        #expect(open.openSeconds == nil && open.halfOpenProbes == nil && open.slowMilliseconds == nil && open.dailyQuota == nil)

        let throttled = try Self.decode(
            #"{"breaker_state":"closed","name":"primary","priority":1,"throttled_until":"2027-01-15T08:00:03Z","type":"sandbox"}"#
        )
        #expect(throttled.state == "throttled")
        #expect(throttled.throttledUntil == Date(timeIntervalSince1970: 1_800_000_003))
        #expect(try Self.decode(#"{"breaker_state":"closed","name":"a","priority":2,"type":"ses"}"#).state == "healthy")
    }

    @Test func `reads a server that reports routing states, thresholds and quotas`() throws {
        let snapshot = try Self.decode(
            """
            {"name": "primary", "kind": "sandbox", "priority": 1, "state": "quota_exhausted", "reason": "daily quota used",
             "breaker": {"state": "half_open", "open_until": null, "open_seconds": 3, "half_open_probes": 2},
             "slow_ms": 100, "latency": {"p50_ms": 1, "p95_ms": 4, "ewma_ms": 2},
             "quota": {"daily": {"used": 50, "limit": 50}, "monthly": {"used": 50, "limit": null}},
             "throttled_until": null}
            """
        )
        #expect(
            snapshot
                == ProviderSnapshot(
                    name: "primary", kind: "sandbox", priority: 1, state: "quota_exhausted", reason: "daily quota used",
                    breakerState: "half_open", openSeconds: 3, halfOpenProbes: 2, slowMilliseconds: 100,
                    dailyQuota: .init(used: 50, limit: 50)
                )
        )
        #expect(!snapshot.isBreakerOpen)
    }
}
