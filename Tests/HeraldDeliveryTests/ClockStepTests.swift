import Foundation
import HeraldCore
import HeraldProviders
import HeraldStoreSQLite
import HeraldTesting
import Testing

@testable import HeraldDelivery

/// Every component that reads time reads Herald's steady clock: an hour's step of the system
/// clock, forward or back, neither fires nor freezes a breaker, a lease, a rate limit or a
/// backoff. Each test steps the system clock alone, then lets time pass.
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

    @Test(arguments: steps)
    func `a lease holds for its duration, and a deferred email is due after its backoff`(step: Duration) async throws {
        let clock = clocks.makeSteadyClock()
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            let id = EmailID(date: clock.now)
            try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now))
            let leased = try await store.leaseDueEmails(limit: 10, owner: "a", now: clock.now, duration: .seconds(60))
            #expect(leased.map(\.id) == [id])
            clocks.step(step)
            clocks.pass(.seconds(59))
            #expect(try await store.leaseDueEmails(limit: 10, owner: "b", now: clock.now, duration: .seconds(60)).isEmpty)

            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased[0].leaseToken, finishedAttempt: nil,
                    next: .deferred(until: clock.now.adding(.seconds(30)), reason: "backoff"), at: clock.now))
            clocks.step(step)
            clocks.pass(.seconds(29))
            #expect(try await store.leaseDueEmails(limit: 10, owner: "b", now: clock.now, duration: .seconds(60)).isEmpty)
            clocks.pass(.seconds(2))
            #expect(try await store.leaseDueEmails(limit: 10, owner: "b", now: clock.now, duration: .seconds(60)).map(\.id) == [id])
        }
    }
}
