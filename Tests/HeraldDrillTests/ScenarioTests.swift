import Foundation
import HeraldCore
import HeraldDrill
import HeraldTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every scenario against the built binary (HERALD_BIN, which `scripts/test` sets), each with a
/// Herald of its own on short timings, so that they run side by side.
@Suite("Drills against the built binary")
struct ScenarioTests {
    /// Herald's settings for a drill: the breaker opens after 5 calls within 1 s; a window that
    /// short lets the warm-up's successes leave it before the outage's first second is over.
    /// The busy outage keeps the production breaker settings (a 30 s window, 30 s open), so
    /// that only the trip on failures in a row can move the traffic in time.
    static func config(_ scenario: Scenario) -> String {
        let primary =
            switch scenario {
            case .slowdown: ", slow_ms: 100"
            case .quota: ", daily_quota: 50"
            default: ""
            }
        let breaker =
            scenario == .busyOutage
            ? ""
            : """
            breaker:
              minimum_calls: 5
              window_seconds: 1
              open_seconds: 3
              half_open_probes: 2
            """
        return """
            log:
              level: warning
            retry:
              base_seconds: 0.2
              cap_seconds: 1
            \(breaker)
            providers:
              - {name: primary, type: sandbox\(primary)}
              - {name: secondary, type: sandbox}
            """
    }

    /// The thresholds of `config`, for servers whose GET /v1/providers does not report them.
    static var configuration: DrillConfiguration {
        var configuration = DrillConfiguration()
        configuration.openSeconds = 3
        configuration.halfOpenProbes = 2
        configuration.slowMilliseconds = 100
        configuration.dailyQuota = 50
        configuration.settleTimeout = .seconds(10)
        return configuration
    }

    @Test(arguments: Scenario.allCases)
    func `passes against Herald`(_ scenario: Scenario) async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config(scenario))
            let report = try await DrillClient.with(server: herald.baseURL, apiKey: herald.apiKey, connections: 32) { client in
                try await ChaosDrill.prepare(scenario, configuration: Self.configuration, client: client).run()
            }
            #expect(report.verdict.passed, "\(report)")
            #expect(report.recording.changes.last?.behavior == SandboxBehavior())
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    @Test func `a cancelled drill leaves the primary healthy`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config(.outage))
            try await DrillClient.with(server: herald.baseURL, apiKey: herald.apiKey, connections: 32) { client in
                let drill = try await ChaosDrill.prepare(.outage, configuration: Self.configuration, client: client)
                let run = Task { try await drill.run() }
                try await Task.sleep(for: .seconds(2))
                run.cancel()
                await #expect(throws: CancellationError.self) { try await run.value }
            }
            // The primary's breaker is open; once it lets a probe through, a healthy primary sends.
            let deadline = ContinuousClock.now + .seconds(15)
            var sentByPrimary = false
            while !sentByPrimary, ContinuousClock.now < deadline {
                let id = try #require(try await herald.send(Fixtures.email(0)).body["id"] as? String)
                try await herald.waitUntil([id], are: "sent")
                sentByPrimary = try await herald.email(id)["provider"] as? String == "primary"
                if !sentByPrimary { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(sentByPrimary, "the primary did not send again after the drill was cancelled")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }
}
