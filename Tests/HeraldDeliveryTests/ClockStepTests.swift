import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

@testable import HeraldDelivery

/// Every component that reads time reads Herald's steady clock: an hour's step of the system
/// clock, forward or back, neither fires nor freezes a breaker or a rate limit. Each test steps
/// the system clock alone, then lets time pass. (The stores' leases, backoffs, webhook tries and
/// shared send rates: `ClockStepStoreTests`.)
@Suite("Clock steps")
struct ClockStepTests {
    let clocks = SteppableClocks()
    static let steps = [Duration.seconds(3600), .seconds(-3600)]

    @Test(arguments: steps)
    func `an open breaker stays open for its duration, no shorter and no longer`(step: Duration) {
        let clock = clocks.makeSteadyClock()
        let provider = SandboxProvider(name: "primary")
        let router = ProviderRouter(
            routes: [.init(provider: provider, priority: 1, timeout: .seconds(5))],
            breaker: .init(minimumCalls: 1, consecutiveFailures: 1, openDuration: .seconds(60)), now: clock.now)
        var random = SeededRandomNumberGenerator(seed: 1)
        let route = router.order(now: clock.now, using: &random)[0]
        guard case .success(let lease) = router.acquire(route, now: clock.now) else {
            Issue.record("a closed breaker lets a call through")
            return
        }
        _ = router.record(lease, failure: ProviderFailure(.transient, code: "x", message: "x"), latency: .zero, now: clock.now)
        clocks.step(step)
        clocks.pass(.seconds(59))
        #expect(router.statuses(now: clock.now)[0].breakerState == "open")
        clocks.pass(.seconds(2))
        #expect(router.statuses(now: clock.now)[0].breakerState == "half_open")
    }

    @Test(arguments: steps)
    func `a rate limit refills at its rate`(step: Duration) {
        let clock = clocks.makeSteadyClock()
        let router = ProviderRouter(
            routes: [.init(provider: SandboxProvider(name: "primary"), priority: 1, timeout: .seconds(5), ratePerSecond: 1)],
            breaker: .init(), now: clock.now)
        var random = SeededRandomNumberGenerator(seed: 1)
        let route = router.order(now: clock.now, using: &random)[0]
        guard case .success(let first) = router.acquire(route, now: clock.now) else {
            Issue.record("a full bucket has a token")
            return
        }
        _ = router.record(first, failure: nil, latency: .zero, now: clock.now)
        clocks.step(step)
        if case .success = router.acquire(route, now: clock.now) {
            Issue.record("the step refilled the bucket")
        }
        // A little over a second: the clock runs up to 1 % slower while it absorbs a step back.
        clocks.pass(.milliseconds(1020))
        guard case .success = router.acquire(route, now: clock.now) else {
            Issue.record("a second refilled the bucket")
            return
        }
    }
}
