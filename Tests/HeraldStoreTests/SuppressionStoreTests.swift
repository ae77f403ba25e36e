import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Suppression list conformance")
struct SuppressionStoreTests {
    let clock = ManualClock()

    func suppression(_ address: String, reason: String = "asked to stop") -> Suppression {
        Suppression(address: address, reason: reason, source: .api, createdAt: clock.now)
    }

    @Test(arguments: StoreKind.allCases)
    func `keeps one entry per address whatever its case, the first one`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let first = try await store.suppress(suppression("Bob@Example.com"), tenant: "acme")
            #expect(first.created)
            #expect(first.entry.address == "bob@example.com")
            let again = try await store.suppress(suppression("bob@example.COM", reason: "again"), tenant: "acme")
            #expect(!again.created)
            #expect(again.entry.reason == "asked to stop")
            #expect(try await store.suppression(of: "BOB@example.com", tenant: "acme")?.reason == "asked to stop")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `lists a tenant's suppressions in address order, page by page, and no other tenant's`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            for address in ["carol@example.com", "alice@example.com", "bob@example.com"] {
                _ = try await store.suppress(suppression(address), tenant: "acme")
            }
            _ = try await store.suppress(suppression("dave@example.com"), tenant: "globex")
            let first = try await store.suppressions(tenant: "acme", limit: 2, after: nil)
            #expect(first.map(\.address) == ["alice@example.com", "bob@example.com"])
            let second = try await store.suppressions(tenant: "acme", limit: 2, after: first.last?.address)
            #expect(second.map(\.address) == ["carol@example.com"])
            #expect(try await store.suppression(of: "dave@example.com", tenant: "acme") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `removes an address from one tenant's list only`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            _ = try await store.suppress(suppression("bob@example.com"), tenant: "acme")
            _ = try await store.suppress(suppression("bob@example.com"), tenant: "globex")
            #expect(try await store.unsuppress("Bob@example.com", tenant: "acme"))
            #expect(try await !store.unsuppress("bob@example.com", tenant: "acme"))
            #expect(try await store.suppression(of: "bob@example.com", tenant: "globex") != nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `a leased email names its recipients that its own tenant suppressed`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            _ = try await store.suppress(suppression("bob@example.com"), tenant: "acme")
            _ = try await store.suppress(suppression("carol@example.com"), tenant: "globex")
            var message = EmailMessage.sample()
            message.to = [EmailAddress(address: "BOB@example.com"), EmailAddress(address: "dave@example.com")]
            message.cc = [EmailAddress(address: "carol@example.com")]
            let acme = NewEmail(id: EmailID(date: clock.now), message: message, acceptedAt: clock.now, tenant: "acme")
            let globex = NewEmail(id: EmailID(date: clock.now), message: message, acceptedAt: clock.now, tenant: "globex")
            try await store.insert(batch: [acme, globex])
            let leased = try await store.leaseDueEmails(limit: 10, owner: "test", now: clock.now, duration: .seconds(60))
            let byID = Dictionary(uniqueKeysWithValues: leased.map { ($0.id, $0.suppressedRecipients) })
            #expect(byID[acme.id] == ["bob@example.com"])
            #expect(byID[globex.id] == ["carol@example.com"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `recipients refused for good join the email's tenant's list with the email and the reason`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let email = NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now, tenant: "acme")
            try await store.insert(email)
            let lease = try #require(try await store.leaseDueEmails(limit: 1, owner: "test", now: clock.now, duration: .seconds(60)).first)
            let failure = ProviderFailure(.recipient, code: "smtp_550_5.1.1", message: "no such user")
            try await store.record(
                DeliveryProgress(
                    emailID: email.id, leaseToken: lease.leaseToken, finishedAttempt: nil, next: .failed(reason: failure.reason),
                    at: clock.now, suppressing: [RefusedRecipient(address: "Bob@example.com", failure: failure)]))
            let entry = try #require(try await store.suppression(of: "bob@example.com", tenant: "acme"))
            #expect(entry.source == .delivery)
            #expect(entry.emailID == email.id)
            #expect(entry.reason == "recipient:smtp_550_5.1.1: no such user")
            #expect(try await store.suppression(of: "bob@example.com", tenant: APIKey.defaultTenant) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `an email whose every recipient is suppressed ends suppressed, and can be retried`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let email = NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now)
            try await store.insert(email)
            let lease = try #require(try await store.leaseDueEmails(limit: 1, owner: "test", now: clock.now, duration: .seconds(60)).first)
            try await store.record(
                DeliveryProgress(
                    emailID: email.id, leaseToken: lease.leaseToken, finishedAttempt: nil, next: .suppressed, at: clock.now,
                    suppressedRecipients: ["bob@example.com"]))
            let detail = try #require(try await store.email(email.id))
            #expect(detail.status == .suppressed)
            #expect(detail.failureReason == "every recipient is suppressed")
            #expect(detail.events.map(\.kind) == [.queued, .suppressed])
            #expect(detail.events.last?.detail == "bob@example.com")
            try await store.retry(email.id, now: clock.now)
            #expect(try await store.email(email.id)?.status == .queued)
        }
    }
}
