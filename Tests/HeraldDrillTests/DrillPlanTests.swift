import HeraldCore
import HeraldDrill
import Testing

@Suite("Drill plan")
struct DrillPlanTests {
    static let providers = [
        ProviderSnapshot(name: "backup", kind: "sandbox", priority: 2),
        ProviderSnapshot(name: "main", kind: "sandbox", priority: 1, openSeconds: 30, halfOpenProbes: 3, slowMilliseconds: 200),
        ProviderSnapshot(name: "last", kind: "ses", priority: 3),
    ]

    @Test func `takes the lowest priority number as the primary and the next as the secondary`() throws {
        let plan = try DrillPlan(scenario: .outage, configuration: DrillConfiguration(), providers: Self.providers)
        #expect(plan.primary == "main")
        #expect(plan.secondary == "backup")
        #expect(plan.providers == ["main", "backup", "last"])
        #expect(plan.streamDuration == .seconds(7))
        #expect(
            plan.steps == [.init(offset: .seconds(1), behavior: SandboxBehavior(failureRate: 1), label: "outage: main fails every call")])
    }

    @Test func `takes thresholds from the server unless flags give them`() throws {
        var configuration = DrillConfiguration()
        #expect(
            try DrillPlan(scenario: .slowdown, configuration: configuration, providers: Self.providers).steps[0].behavior
                .latencyMilliseconds == 600)
        configuration.slowMilliseconds = 50
        configuration.openSeconds = 3
        let plan = try DrillPlan(scenario: .recovery, configuration: configuration, providers: Self.providers)
        #expect(plan.thresholds == .init(slowMilliseconds: 50, openSeconds: 3, halfOpenProbes: 3))
        #expect(plan.steps.map(\.offset) == [.seconds(1), .seconds(5)])
        #expect(plan.streamDuration == .seconds(11))
    }

    @Test func `names the flag for a threshold the server does not give`() {
        #expect(
            throws: DrillError(
                code: "missing_threshold", message: "GET /v1/providers does not give quota.daily.limit for main; pass --daily-quota")
        ) {
            try DrillPlan(scenario: .quota, configuration: DrillConfiguration(), providers: Self.providers)
        }
    }

    @Test func `streams past the quota that is left`() throws {
        var providers = Self.providers
        providers[1].dailyQuota = .init(used: 30, limit: 110)
        let plan = try DrillPlan(scenario: .quota, configuration: DrillConfiguration(), providers: providers)
        #expect(plan.thresholds.quotaRemaining == 80)
        #expect(plan.streamDuration == .seconds(5))
        #expect(plan.steps.isEmpty)
    }

    @Test func `flaps between failing and healthy`() throws {
        let plan = try DrillPlan(scenario: .flapping, configuration: DrillConfiguration(), providers: Self.providers)
        #expect(plan.steps.map(\.offset) == [1, 3, 5, 7, 9].map { .seconds($0) })
        #expect(plan.steps.map(\.behavior.failureRate) == [1, 0, 1, 0, 1])
    }

    @Test func `refuses a primary that is not a sandbox`() {
        var configuration = DrillConfiguration()
        configuration.primary = "last"
        #expect(throws: DrillError.self) { try DrillPlan(scenario: .outage, configuration: configuration, providers: Self.providers) }
    }

    @Test func `needs a second provider`() {
        #expect(throws: DrillError.self) {
            try DrillPlan(scenario: .outage, configuration: DrillConfiguration(), providers: [Self.providers[1]])
        }
    }
}
