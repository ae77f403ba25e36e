import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Redrive schedule")
struct RedriveScheduleTests {
    let clock = ManualClock()

    func policy(interval: Duration = .seconds(600)) -> RedrivePolicy {
        var policy = RedrivePolicy()
        policy.interval = interval
        policy.maxTimes = 2
        policy.maxAge = .seconds(86_400)
        return policy
    }

    let allHealthy: [String: ProviderStatus.State] = ["ses": .healthy, "relay": .healthy, "backup": .degraded]

    func next(_ schedule: inout RedriveSchedule, after seconds: Int = 1, _ changes: [String: ProviderStatus.State] = [:])
        -> RedriveSchedule.Action
    {
        clock.advance(by: .seconds(seconds))
        return schedule.next(now: clock.now, conditions: allHealthy.merging(changes) { $1 })
    }

    @Test func `checks the interval at once, then once a minute, each time for emails failed an interval ago`() {
        var schedule = RedriveSchedule(policy: policy(), now: clock.now)
        #expect(schedule.checkEvery == .seconds(60))
        #expect(
            next(&schedule, after: 0)
                == .redrive(
                    RedriveSelection(
                        errorClasses: [.transient, .providerFatal, .ambiguous], redrivenFewerThan: 2,
                        acceptedAfter: clock.now.adding(.seconds(-86_400)), failedBefore: clock.now.adding(.seconds(-600)),
                        reason: "interval")))
        #expect(next(&schedule, after: 59) == .wait)
        guard case .redrive(let selection) = next(&schedule, after: 1) else {
            Issue.record("the interval was not checked after a minute")
            return
        }
        #expect(selection.failedBefore == clock.now.adding(.seconds(-600)))
    }

    @Test func `an interval shorter than a minute is checked as often as it is long`() {
        let schedule = RedriveSchedule(policy: policy(interval: .seconds(5)), now: clock.now)
        #expect(schedule.checkEvery == .seconds(5))
    }

    @Test func `redrives every failure at once when a provider that could not take emails is healthy again`() {
        var schedule = RedriveSchedule(policy: policy(), now: clock.now)
        _ = next(&schedule, after: 0)
        #expect(next(&schedule, ["ses": .open, "relay": .paused]) == .wait)
        #expect(next(&schedule, ["ses": .open, "relay": .paused]) == .wait)
        guard case .redrive(let selection) = next(&schedule, ["ses": .open]) else {
            Issue.record("a recovered provider redrove nothing")
            return
        }
        #expect(selection.failedBefore == clock.now, "however recent the failure")
        #expect(selection.reason == "provider_recovered: relay")
        #expect(next(&schedule, ["ses": .open]) == .wait, "once per recovery")
    }

    /// Probes may fail: a redrive spent on them is one fewer for later.
    @Test func `a half-open breaker is no recovery yet; closed, it is`() {
        var schedule = RedriveSchedule(policy: policy(), now: clock.now)
        _ = next(&schedule, after: 0)
        #expect(next(&schedule, ["ses": .open]) == .wait)
        #expect(next(&schedule, ["ses": .halfOpen]) == .wait)
        #expect(next(&schedule, ["ses": .open]) == .wait)
        #expect(next(&schedule, ["ses": .halfOpen]) == .wait)
        guard case .redrive(let selection) = next(&schedule) else {
            Issue.record("a closed breaker redrove nothing")
            return
        }
        #expect(selection.reason == "provider_recovered: ses")
    }

    @Test func `every kind of outage ends in a recovery`() {
        for condition in [ProviderStatus.State.paused, .open, .halfOpen, .throttled, .quotaExhausted] {
            var schedule = RedriveSchedule(policy: policy(), now: clock.now)
            _ = next(&schedule, after: 0)
            #expect(next(&schedule, ["relay": condition]) == .wait)
            #expect(next(&schedule, ["relay": .degraded]) != .wait, "after \(condition)")
        }
    }

    @Test func `never redrives while no provider can take an email`() {
        var schedule = RedriveSchedule(policy: policy(), now: clock.now)
        let down: [String: ProviderStatus.State] = ["ses": .open, "relay": .paused, "backup": .quotaExhausted]
        #expect(next(&schedule, after: 0, down) == .wait)
        #expect(next(&schedule, after: 120, down) == .wait, "not on the interval")
        #expect(next(&schedule, after: 1, down.merging(["backup": .halfOpen]) { $1 }) != .wait, "probes may go: the interval")
        #expect(next(&schedule, after: 1, down.merging(["backup": .healthy]) { $1 }) != .wait, "the first one back")
    }

    @Test func `a disabled policy never redrives`() {
        var disabled = policy()
        disabled.enabled = false
        var schedule = RedriveSchedule(policy: disabled, now: clock.now)
        #expect(next(&schedule, after: 0, ["ses": .open]) == .wait)
        #expect(next(&schedule, after: 3600) == .wait)
    }
}
