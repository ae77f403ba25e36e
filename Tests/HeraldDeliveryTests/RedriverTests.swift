import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Logging
import Testing

@testable import HeraldDelivery

/// The redrive of failed emails, with the dispatcher's rounds, on a clock moved by hand.
extension DispatcherTests {
    func redriver(_ harness: Harness, interval: Duration = .seconds(600), classes: Set<ErrorClass>? = nil) -> Redriver {
        var policy = RedrivePolicy()
        policy.interval = interval
        if let classes { policy.errorClasses = classes }
        return Redriver(
            store: harness.store, router: harness.router, policy: policy, clock: clock, wakeDispatcher: {},
            logger: Logger(label: "test"))
    }

    /// Runs rounds, moving the clock past each retry, until every one of `ids` has failed.
    func runUntilFailed(_ ids: [EmailID], _ harness: Harness) async throws {
        for _ in 0..<20 {
            try await harness.runRounds()
            var statuses: [EmailStatus] = []
            for id in ids { statuses.append(try await harness.email(id).status) }
            if statuses.allSatisfy({ $0 == .failed }) { return }
            clock.advance(by: .seconds(901))
        }
        throw TestFailure("the emails did not all fail")
    }

    @Test func `a full outage fails emails, and each is sent once a provider is back, with no hand on it`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        secondary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let ids = try await harness.accept(5)
            try await runUntilFailed(ids, harness)
            // An interval of a day: only the recovery can redrive here.
            let redriver = redriver(harness, interval: .seconds(86_400))
            #expect(await redriver.look() == 0, "the breakers are open or half-open: no provider is healthy")

            // The providers are back. The application's next email is the probe that closes the
            // primary's breaker; the next look redrives every failed email at once.
            primary.update(SandboxBehavior())
            secondary.update(SandboxBehavior())
            clock.advance(by: breaker.openDuration + .seconds(1))
            #expect(await redriver.look() == 0, "half-open is no recovery yet")
            let probe = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(probe).status == .sent)
            #expect(await redriver.look() == 5)
            try await harness.runRounds()
            for id in ids {
                let email = try await harness.email(id)
                #expect(email.status == .sent)
                #expect(email.events.filter { $0.kind == .redriven }.map(\.detail) == ["provider_recovered: primary"])
            }
            #expect(await redriver.look() == 0)
        }
    }

    /// An email failed by failover failures on both providers, which leave their breakers
    /// closed, and a redriver that takes such failures.
    func failedByFailover(_ harness: Harness) async throws -> (EmailID, Redriver) {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: .failover))
        secondary.update(SandboxBehavior(failureRate: 1, failureClass: .failover))
        let id = try await harness.accept()[0]
        try await runUntilFailed([id], harness)
        return (id, redriver(harness, classes: [.failover]))
    }

    @Test func `nothing is redriven while every provider is paused, not even on the interval`() async throws {
        try await withHarness { harness in
            let (id, redriver) = try await failedByFailover(harness)
            for name in ["primary", "secondary"] { _ = harness.router.setPaused(true, provider: name, now: clock.now) }
            clock.advance(by: .seconds(3600))
            #expect(await redriver.look() == 0)
            #expect(try await harness.email(id).status == .failed)
            _ = harness.router.setPaused(false, provider: "secondary", now: clock.now)
            #expect(await redriver.look() == 1)
            #expect(try await harness.email(id).events.last?.detail == "provider_recovered: secondary")
        }
    }

    @Test func `a failed email waits the interval, at most a minute more, and is redriven no more than allowed`() async throws {
        try await withHarness { harness in
            // The providers' breakers stay closed: only the interval redrives.
            let (id, redriver) = try await failedByFailover(harness)
            #expect(await redriver.look() == 0)
            clock.advance(by: .seconds(599))
            #expect(await redriver.look() == 0, "failed 599 s ago")
            clock.advance(by: .seconds(2))
            #expect(await redriver.look() == 0, "the last check was 2 s ago")
            clock.advance(by: .seconds(60))
            #expect(await redriver.look() == 1)
            #expect(try await harness.email(id).events.last?.detail == "interval")

            for _ in 0..<5 {
                try await runUntilFailed([id], harness)
                clock.advance(by: .seconds(661))
                _ = await redriver.look()
            }
            let events = try await harness.email(id).events
            #expect(events.filter { $0.kind == .redriven }.count == RedrivePolicy().maxTimes)
            #expect(try await harness.email(id).status == .failed)
        }
    }

    @Test func `a permanent failure stays failed`() async throws {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: .permanent))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            try await runUntilFailed([id], harness)
            let redriver = redriver(harness, classes: [.transient])
            clock.advance(by: .seconds(3600))
            _ = harness.router.setPaused(true, provider: "primary", now: clock.now)
            _ = await redriver.look()
            _ = harness.router.setPaused(false, provider: "primary", now: clock.now)
            #expect(await redriver.look() == 0)
            #expect(try await harness.email(id).status == .failed)
        }
    }
}
