import Foundation
import HeraldCore
import HeraldStorePostgres
import HeraldTesting
import Testing

/// The stores keep the times Herald's steady clock gives them: an hour's step of the system
/// clock, forward or back, neither frees a lease early nor holds it, nor moves an email's
/// backoff, a webhook's next try or a shared send rate. Each test steps the system clock
/// alone, then lets time pass.
@Suite("Clock steps in the stores")
struct ClockStepStoreTests {
    let clocks = SteppableClocks()
    static let cases = StoreKind.allCases.flatMap { kind in [Duration.seconds(3600), .seconds(-3600)].map { (kind, $0) } }

    @Test(arguments: cases)
    func `a lease holds for its duration, and a deferred email is due after its backoff`(kind: StoreKind, step: Duration)
        async throws
    {
        let clock = clocks.makeSteadyClock()
        try await kind.withStore(now: clock.now) { store in
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

    @Test(arguments: cases)
    func `a webhook message waits for its next try, no shorter and no longer`(kind: StoreKind, step: Duration) async throws {
        let clock = clocks.makeSteadyClock()
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(.hook(at: clock.now), sealedSecret: [1])
            try await store.insert(NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now, tenant: "acme"))
            let lease = { try await store.leaseWebhookDeliveries(limit: 10, owner: "node", now: clock.now, duration: .seconds(60)) }
            let first = try #require(try await lease().first)
            try await store.recordWebhookAttempt(
                WebhookAttempt(
                    messageID: first.messageID, endpointID: first.endpointID, number: 1, at: clock.now, statusCode: 500,
                    latencyMilliseconds: 3, response: "", error: nil, next: .retry(at: clock.now.adding(.seconds(300)))))
            clocks.step(step)
            // The clock runs up to 1 % faster or slower while it absorbs a step: 3 s in 300.
            clocks.pass(.seconds(296))
            #expect(try await lease().isEmpty)
            clocks.pass(.seconds(8))
            #expect(try await lease().map(\.messageID) == [first.messageID])
        }
    }

    @Test(arguments: [Duration.seconds(3600), .seconds(-3600)])
    func `a send rate shared through PostgreSQL refills at its rate`(step: Duration) async throws {
        let clock = clocks.makeSteadyClock()
        try await StoreKind.postgres.withStore(now: clock.now) { store in
            let shared = try #require(store as? PostgresEmailStore)
            let take = { try await shared.takeSendToken(provider: "primary", ratePerSecond: 1, burst: 1, now: clock.now) }
            #expect(try await take() == nil)
            clocks.step(step)
            #expect(try await take() != nil, "the step refilled the bucket")
            // A little over a second: the clock runs up to 1 % slower while it absorbs a step back.
            clocks.pass(.milliseconds(1020))
            #expect(try await take() == nil, "a second refilled the bucket")
        }
    }
}
