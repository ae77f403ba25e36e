import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Logging
import Testing

@testable import HeraldDelivery

/// The router's choices on a clock moved by hand, with sandbox providers that are never called:
/// outcomes are fed to the router as a dispatcher would.
@Suite("Provider router")
struct ProviderRouterTests {
    let clock = ManualClock()
    let breaker = CircuitBreaker.Configuration(
        failureRateThreshold: 0.5, minimumCalls: 4, window: .seconds(10), openDuration: .seconds(30), halfOpenProbes: 1,
        slowCallThreshold: .seconds(60))

    func router(_ policy: ProviderRouter.Policy = .priority, primary: ProviderRouter.Route? = nil, weights: (Double, Double) = (1, 1))
        -> ProviderRouter
    {
        ProviderRouter(
            routes: [
                primary
                    ?? .init(
                        provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), weight: weights.0,
                        slowThreshold: .milliseconds(100)),
                .init(
                    provider: SandboxProvider(name: "secondary"), priority: 2, timeout: .seconds(5), weight: weights.1,
                    slowThreshold: .milliseconds(100)),
            ],
            breaker: breaker, policy: policy, now: clock.now)
    }

    func names(_ router: ProviderRouter, seed: UInt64 = 1) -> [String] {
        var generator = SeededRandomNumberGenerator(seed: seed)
        return router.order(now: clock.now, using: &generator).map(\.name)
    }

    /// Makes one call through `name` that takes `latency` and fails with `failure`, if any.
    @discardableResult
    func call(_ router: ProviderRouter, _ name: String, latency: Duration = .milliseconds(10), failure: ProviderFailure? = nil)
        -> ProviderStateRecord?
    {
        let route = router.routes.first { $0.name == name }!
        guard case .success(let lease) = router.acquire(route, now: clock.now) else {
            Issue.record("\(name) refused a call")
            return nil
        }
        return router.record(lease, failure: failure, latency: latency, now: clock.now)
    }

    func skip(_ router: ProviderRouter, _ name: String) -> ProviderRouter.Skip? {
        guard case .failure(let skip) = router.acquire(router.routes.first { $0.name == name }!, now: clock.now) else { return nil }
        return skip
    }

    @Test func `puts a degraded provider after the healthy ones, probes it now and then, and restores it once fast`() {
        let router = router()
        #expect(names(router) == ["primary", "secondary"])
        for _ in 0..<20 { call(router, "primary", latency: .milliseconds(300)) }
        #expect(names(router) == ["secondary", "primary"])
        let status = router.statuses(now: clock.now)[0]
        #expect(status.state == .degraded)
        #expect(status.reason?.contains("above the slow threshold of 100 ms") == true)

        // Its slow calls leave the window, but nothing has shown it fast again.
        clock.advance(by: .seconds(11))
        #expect(router.statuses(now: clock.now)[0].state == .degraded)
        #expect(names(router) == ["primary", "secondary"], "a probe round, after the probe interval")
        #expect(names(router) == ["secondary", "primary"], "one probe per interval")
        call(router, "primary", latency: .milliseconds(300))
        clock.advance(by: .seconds(5))
        #expect(names(router) == ["primary", "secondary"])
        call(router, "primary", latency: .milliseconds(20))
        clock.advance(by: .seconds(11))
        call(router, "primary", latency: .milliseconds(20))
        #expect(names(router) == ["primary", "secondary"])
        #expect(names(router) == ["primary", "secondary"])
        #expect(router.statuses(now: clock.now)[0].state == .healthy)
    }

    @Test func `weighted splits first places in proportion to the weights`() {
        let router = router(.weighted, weights: (3, 1))
        var generator = SeededRandomNumberGenerator(seed: 42)
        let firsts = (0..<10_000).map { _ in router.order(now: clock.now, using: &generator)[0].name }
        let primaryShare = Double(firsts.filter { $0 == "primary" }.count) / 10_000
        #expect(abs(primaryShare - 0.75) < 0.02)
        #expect(Set(router.order(now: clock.now, using: &generator).map(\.name)) == ["primary", "secondary"])
    }

    @Test func `latency prefers the faster provider and switches only beyond the margin`() {
        let router = router(.latency(margin: 0.2))
        call(router, "primary", latency: .milliseconds(50))
        call(router, "secondary", latency: .milliseconds(45))
        #expect(names(router) == ["secondary", "primary"])
        // 10 % faster: within the margin, the leader keeps its place.
        for _ in 0..<30 { call(router, "primary", latency: .milliseconds(40)) }
        #expect(names(router) == ["secondary", "primary"])
        // Now more than 20 % faster.
        for _ in 0..<30 { call(router, "primary", latency: .milliseconds(20)) }
        #expect(names(router) == ["primary", "secondary"])
    }

    @Test func `skips a paused provider until resumed, and says so`() {
        let router = router()
        #expect(router.setPaused(true, provider: "primary", now: clock.now) == ProviderStateRecord(provider: "primary", paused: true))
        #expect(skip(router, "primary") == .paused)
        #expect(router.statuses(now: clock.now)[0].state == .paused)
        _ = router.setPaused(false, provider: "primary", now: clock.now)
        #expect(skip(router, "primary") == nil)
        #expect(router.setPaused(true, provider: "nowhere", now: clock.now) == nil)
    }

    @Test func `makes no attempt on a provider before its Retry-After has passed`() {
        let router = router()
        let state = call(
            router, "primary", failure: ProviderFailure(.transient, code: "http_429", message: "slow down", retryAfter: .seconds(20)))
        #expect(state?.throttledUntil == clock.now.adding(.seconds(20)), "the pause is kept across restarts")
        clock.advance(by: .seconds(19))
        #expect(skip(router, "primary") == .throttled(until: clock.now.adding(.seconds(1))))
        #expect(router.statuses(now: clock.now)[0].state == .throttled)
        clock.advance(by: .seconds(1))
        #expect(skip(router, "primary") == nil)
    }

    @Test func `holds a provider to its send rate`() {
        let router = router(
            primary: .init(provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), ratePerSecond: 2))
        call(router, "primary")
        call(router, "primary")
        #expect(skip(router, "primary") == .rateLimited(until: clock.now.adding(.milliseconds(500))))
        clock.advance(by: .milliseconds(500))
        call(router, "primary")
    }

    /// Changes of state as operators see them: the breaker opening on calls, its open period
    /// ending as time passes (seen when the status is read), a probe closing it, and pauses;
    /// a send-rate limit used up for a moment is no change. The last ten are kept.
    @Test func `records each provider's changes of state, not a send-rate limit used up for a moment`() {
        let router = router(
            primary: .init(
                provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), slowThreshold: .seconds(1),
                ratePerSecond: 1))
        func changes() -> [String] {
            router.statuses(now: clock.now)[0].changes.map { "\($0.state.rawValue) +\(Int($0.at.timeIntervalSince(start)))s" }
        }
        let start = clock.now
        call(router, "primary")
        #expect(router.statuses(now: clock.now)[0].state == .throttled, "the send rate's token is used up")
        #expect(changes() == [])
        for _ in 0..<3 {
            clock.advance(by: .seconds(1))
            call(router, "primary", failure: ProviderFailure(.transient, code: "http_503", message: "unavailable"))
        }
        clock.advance(by: .seconds(30))
        #expect(changes() == ["open +3s", "half_open +33s"])
        clock.advance(by: .seconds(1))
        call(router, "primary")
        _ = router.setPaused(true, provider: "primary", now: clock.now)
        #expect(changes() == ["open +3s", "half_open +33s", "healthy +34s", "paused +34s"])
        #expect(router.statuses(now: clock.now)[1].changes.isEmpty)
        for _ in 0..<10 {
            _ = router.setPaused(false, provider: "primary", now: clock.now)
            _ = router.setPaused(true, provider: "primary", now: clock.now)
        }
        #expect(changes().count == 10)
        #expect(changes().last == "paused +34s")
    }

    /// The latency chart's points: one per slot of the breaker's window, oldest first, each
    /// with its own percentiles, and none for a slot without calls.
    @Test func `shows latency slot by slot across the window`() {
        let router = router()
        for _ in 0..<10 { call(router, "primary", latency: .milliseconds(10)) }
        clock.advance(by: .seconds(2))
        for _ in 0..<10 { call(router, "primary", latency: .milliseconds(200)) }
        let history = router.statuses(now: clock.now)[0].latencyHistory
        #expect(history.count == 10)
        #expect(history.map(\.samples).reduce(0, +) == 20)
        #expect(history.last?.samples == 10)
        #expect(history.last?.p50.map { $0 >= .milliseconds(200) && $0 < .milliseconds(250) } == true)
        let earlier = history.filter { $0.samples > 0 }.first
        #expect(earlier?.p95.map { $0 >= .milliseconds(10) && $0 < .milliseconds(13) } == true)
        #expect(history.filter { $0.samples == 0 }.allSatisfy { $0.p50 == nil && $0.p95 == nil })
        #expect(zip(history, history.dropFirst()).allSatisfy { $0.start < $1.start })
    }

    @Test func `sends nothing beyond the daily quota, and a failed call gives its count back`() {
        let router = router(
            primary: .init(provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), quotas: [.day: 3]))
        call(router, "primary")
        call(router, "primary", failure: ProviderFailure(.transient, code: "http_503", message: "unavailable"))
        call(router, "primary")
        call(router, "primary")
        guard case .quotaExhausted(period: "day", let until) = skip(router, "primary") else {
            Issue.record("the quota must be used up after three sends")
            return
        }
        #expect(until == SendQuota.Period.day.end(containing: clock.now))
        #expect(router.statuses(now: clock.now)[0].recentFailures == [.transient: 1])
        #expect(router.statuses(now: clock.now)[0].recentSuccessRate == 0.75)
        let quota = router.statuses(now: clock.now)[0].quotas.first { $0.period == "day" }
        #expect(quota?.used == 3)
        #expect(quota?.limit == 3)
        #expect(router.statuses(now: clock.now)[0].state == .quotaExhausted)
    }

    @Test func `keeps within the 24-hour quota a provider reports`() {
        let router = router()
        router.update(ReportedLimits(maxPer24Hours: 10, sentLast24Hours: 8, maxSendRate: 100), provider: "primary")
        call(router, "primary")
        call(router, "primary")
        #expect(skip(router, "primary") == .quotaExhausted(period: "rolling_24h", until: nil))
        #expect(router.statuses(now: clock.now)[0].ratePerSecond == 100)
    }

    @Test func `hands over what survives a restart: paused, open breaker, Retry-After, send counts`() {
        let first = router()
        var kept: [ProviderStateRecord] = []
        for _ in 0..<4 {
            if let state = call(first, "primary", failure: ProviderFailure(.transient, code: "http_503", message: "down")) {
                kept.append(state)
            }
        }
        let openUntil = clock.now.adding(.seconds(30))
        #expect(kept.last == ProviderStateRecord(provider: "primary", breakerOpenUntil: openUntil))

        let restarted = router(
            primary: .init(provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), quotas: [.day: 5]))
        restarted.adopt(
            [kept.last!, ProviderStateRecord(provider: "secondary", paused: true)], sends: ["primary": [.day: 5]], now: clock.now)
        #expect(skip(restarted, "primary") == .quotaExhausted(period: "day", until: SendQuota.Period.day.end(containing: clock.now)))
        #expect(restarted.statuses(now: clock.now)[0].breakerOpenUntil == openUntil)
        #expect(skip(restarted, "secondary") == .paused)
    }

    @Test func `adopts what other nodes kept, and undoes nothing it learnt itself`() {
        let local = router(
            primary: .init(provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), quotas: [.day: 10]))
        // Another node opened primary's breaker, paused secondary, and counted 4 sends today.
        let openUntil = clock.now.adding(.seconds(20))
        local.adopt(
            [
                ProviderStateRecord(provider: "primary", breakerOpenUntil: openUntil),
                ProviderStateRecord(provider: "secondary", paused: true),
            ],
            sends: ["primary": [.day: 4]], now: clock.now)
        #expect(skip(local, "primary") == .breakerOpen(until: openUntil))
        #expect(skip(local, "secondary") == .paused)
        #expect(local.statuses(now: clock.now)[0].quotas.first { $0.period == "day" }?.used == 4)

        // A later read that says less changes nothing this node knows, but a resume is a resume.
        local.adopt(
            [ProviderStateRecord(provider: "primary"), ProviderStateRecord(provider: "secondary", paused: false)],
            sends: ["primary": [.day: 2]], now: clock.now)
        #expect(skip(local, "primary") == .breakerOpen(until: openUntil))
        #expect(skip(local, "secondary") == nil)
        #expect(local.statuses(now: clock.now)[0].quotas.first { $0.period == "day" }?.used == 4)

        // A breaker already open until later stays as it is.
        local.adopt([ProviderStateRecord(provider: "primary", breakerOpenUntil: clock.now.adding(.seconds(5)))], sends: [:], now: clock.now)
        #expect(skip(local, "primary") == .breakerOpen(until: openUntil))
    }
}

@Suite("Limits refresher")
struct LimitsRefresherTests {
    /// A provider that reports fixed limits, or fails to, as an SES account read would.
    struct ReportingProvider: EmailProvider {
        let name: String
        let limits: ReportedLimits?
        var kind: String { "reporting" }

        func send(_ delivery: Delivery) async throws -> ProviderReceipt { ProviderReceipt(providerMessageID: nil) }

        func reportedLimits() async throws -> ReportedLimits? {
            guard let limits else { throw ProviderFailure(.transient, code: "unreachable", message: "no answer") }
            return limits
        }
    }

    @Test func `hands each provider's reported limits to the router and keeps the last ones when a read fails`() async {
        let clock = ManualClock()
        let router = ProviderRouter(
            routes: [
                .init(
                    provider: ReportingProvider(name: "ses", limits: .init(maxPer24Hours: 200, sentLast24Hours: 150, maxSendRate: 14)),
                    priority: 1, timeout: .seconds(5)),
                .init(provider: ReportingProvider(name: "down", limits: nil), priority: 2, timeout: .seconds(5)),
                .init(provider: SandboxProvider(name: "plain"), priority: 3, timeout: .seconds(5)),
            ],
            breaker: .init(), now: clock.now)
        await LimitsRefresher(router: router, interval: .seconds(300), logger: Logger(label: "test")).refresh()
        let statuses = router.statuses(now: clock.now)
        #expect(
            statuses[0].quotas.first { $0.period == "rolling_24h" } == .init(period: "rolling_24h", used: 150, limit: 200, resetsAt: nil))
        #expect(statuses[0].ratePerSecond == 14)
        #expect(statuses[1].quotas.map(\.period) == ["day", "month"])
        #expect(statuses[2].ratePerSecond == nil)
    }
}
