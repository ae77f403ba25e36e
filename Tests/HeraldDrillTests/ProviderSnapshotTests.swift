import Foundation
import HeraldClient
import Testing

@testable import HeraldDrill

/// A provider as `GET /v1/providers` writes it, read by the generated client's types and taken
/// into what a drill judges by.
@Suite("Provider snapshot")
struct ProviderSnapshotTests {
    static func snapshot(_ json: String) throws -> ProviderSnapshot {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(decoder.singleValueContainer().decode(String.self))
        }
        return ProviderSnapshot(try decoder.decode(Components.Schemas.Provider.self, from: Data(json.utf8)))
    }

    static func provider(state: String, breaker: String, quota: String = "{}", extra: String = "") -> String {
        """
        {"name": "primary", "type": "sandbox", "priority": 1, "weight": 1, "state": "\(state)",
         "breaker": \(breaker), "slow_ms": 100, "latency": {"p50_ms": 1, "p95_ms": 4, "samples": 3, "history": []},
         "state_changes": [], "recent_calls": 3, "failures": {}, "sends_last_minute": 3, "quota": \(quota),
         "events": {"received_24h": 0, "refused_24h": 0}\(extra)}
        """
    }

    @Test func `takes the routing state, breaker, thresholds and daily quota`() throws {
        let snapshot = try Self.snapshot(
            Self.provider(
                state: "quota_exhausted",
                breaker:
                    #"{"state": "half_open", "failure_rate": 0.5, "minimum_calls": 4, "window_seconds": 10, "open_seconds": 3, "half_open_probes": 2}"#,
                quota: #"{"daily": {"used": 50, "limit": 50}, "monthly": {"used": 50}}"#, extra: #", "reason": "daily quota used""#))
        #expect(
            snapshot
                == ProviderSnapshot(
                    name: "primary", kind: "sandbox", priority: 1, state: "quota_exhausted", reason: "daily quota used",
                    breakerState: "half_open", openSeconds: 3, halfOpenProbes: 2, slowMilliseconds: 100,
                    dailyQuota: .init(used: 50, limit: 50)))
        #expect(!snapshot.isBreakerOpen)
    }

    @Test func `takes an open breaker's end and a provider's pause`() throws {
        let open = try Self.snapshot(
            Self.provider(
                state: "open",
                breaker:
                    #"{"state": "open", "open_until": "2027-01-15T08:00:03.250Z", "failure_rate": 0.5, "minimum_calls": 4, "window_seconds": 10, "open_seconds": 30, "half_open_probes": 1}"#,
                extra: #", "throttled_until": "2027-01-15T08:00:03.000Z""#))
        #expect(open.isBreakerOpen)
        #expect(open.openUntil == Date(timeIntervalSince1970: 1_800_000_003.25))
        #expect(open.throttledUntil == Date(timeIntervalSince1970: 1_800_000_003))
        #expect(open.dailyQuota == nil)
    }
}
