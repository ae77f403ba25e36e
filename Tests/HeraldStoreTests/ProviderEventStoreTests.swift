import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// Provider events on both stores: matching, repeats, recipient states, suppressions, counts.
@Suite("Provider event store conformance")
struct ProviderEventStoreTests {
    let clock = ManualClock()
    let policy = EventSuppressionPolicy(softBounceLimit: 2, softBounceWindow: .seconds(3600))

    /// An email of `tenant` sent through `ses` with provider message id `message`.
    func sentEmail(_ store: any HeraldStore, tenant: String = "acme", message: String) async throws -> EmailID {
        let id = EmailID(date: clock.now)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, tenant: tenant))
        let leased = try #require(try await store.leaseDueEmails(limit: 1, owner: "node", now: clock.now, duration: .seconds(60)).first)
        try await store.record(
            DeliveryProgress(
                emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .sent(provider: "ses", providerMessageID: message),
                at: clock.now))
        return id
    }

    func event(
        _ id: String, _ kind: ProviderEvent.Kind, email: EmailID? = nil, message: String? = nil, to recipient: String = "Bob@Example.com",
        bounce: ProviderEvent.Bounce? = nil, at offset: TimeInterval = 0
    ) -> ProviderEvent {
        ProviderEvent(
            id: id, provider: "ses", kind: kind, occurredAt: clock.now.addingTimeInterval(offset), recipient: recipient, emailID: email,
            providerMessageID: message, bounce: bounce, payload: Array(#"{"event":"\#(id)"}"#.utf8))
    }

    @Test(arguments: StoreKind.allCases)
    func `matches events by Herald's id or the provider's message id, and drops repeats and strangers`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await sentEmail(store, message: "ses-1")
            let outcomes = try await store.record(
                [
                    event("e1", .delivered, email: id), event("e2", .opened, message: "ses-1", at: 5),
                    event("e1", .delivered, email: id), event("e3", .delivered, message: "ses-unknown"),
                    event("e4", .delivered, email: EmailID(date: clock.now.addingTimeInterval(-10))),
                ], receivedAt: clock.now, policy: policy)
            #expect(outcomes == [.recorded, .recorded, .duplicate, .unmatched, .unmatched])
            #expect(try await store.record([event("e2", .opened, email: id)], receivedAt: clock.now, policy: policy) == [.duplicate])

            let email = try #require(try await store.email(id))
            #expect(email.providerEvents.map(\.event.id) == ["e1", "e2"])
            #expect(email.providerEvents.map(\.event.kind) == [.delivered, .opened])
            #expect(email.providerEvents[0].event.payload == Array(#"{"event":"e1"}"#.utf8))
            #expect(email.providerEvents[0].event.recipient == "bob@example.com")
            #expect(email.recipients == [RecipientState(address: "bob@example.com", phase: .delivered, updatedAt: clock.now)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `a late delivery never hides a bounce, and a complaint tops both`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await sentEmail(store, message: "ses-1")
            let bounce = ProviderEvent.Bounce(severity: .soft, classification: "Transient/MailboxFull", diagnostic: "452 4.2.2 full")
            _ = try await store.record(
                [event("b", .bounced, email: id, bounce: bounce, at: 10), event("d", .delivered, email: id, at: 5)],
                receivedAt: clock.now, policy: EventSuppressionPolicy(softBounceLimit: nil))
            var email = try #require(try await store.email(id))
            #expect(email.recipients.map(\.phase) == [.bounced])
            #expect(email.recipients.first?.bounce == bounce)
            #expect(email.providerEvents.map(\.event.id) == ["d", "b"], "in the order they happened")

            _ = try await store.record([event("c", .complained, email: id, at: 20)], receivedAt: clock.now, policy: policy)
            email = try #require(try await store.email(id))
            #expect(email.recipients.map(\.phase) == [.complained])
            #expect(email.recipients.first?.bounce == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `hard bounces and complaints suppress at once, soft bounces once enough come within the window`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await sentEmail(store, message: "ses-1")
            let hard = ProviderEvent.Bounce(severity: .hard, classification: "Permanent/General")
            let soft = ProviderEvent.Bounce(severity: .soft, classification: "Transient/General")
            _ = try await store.record(
                [
                    event("h", .bounced, email: id, to: "gone@example.com", bounce: hard),
                    event("c", .complained, email: id, to: "angry@example.com"),
                    // Two soft bounces more than the window apart, then a second within it.
                    event("s1", .bounced, email: id, to: "full@example.com", bounce: soft, at: -7200),
                    event("s2", .bounced, email: id, to: "full@example.com", bounce: soft),
                ], receivedAt: clock.now, policy: policy)
            let gone = try #require(try await store.suppression(of: "gone@example.com", tenant: "acme"))
            #expect(gone.source == .event)
            #expect(gone.emailID == id)
            #expect(gone.eventID == "ses:h")
            #expect(try await store.suppression(of: "angry@example.com", tenant: "acme")?.reason == "complaint")
            #expect(try await store.suppression(of: "gone@example.com", tenant: "globex") == nil, "another tenant's list")
            #expect(try await store.suppression(of: "full@example.com", tenant: "acme") == nil)

            _ = try await store.record(
                [event("s3", .bounced, email: id, to: "full@example.com", bounce: soft, at: 60)], receivedAt: clock.now, policy: policy)
            let full = try #require(try await store.suppression(of: "full@example.com", tenant: "acme"))
            #expect(full.reason.hasPrefix("soft_bounces: 2 since"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `counts events and refused requests per provider, with the last event's time`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await sentEmail(store, message: "ses-1")
            #expect(try await store.eventStatistics(since: clock.now.addingTimeInterval(-86400)).isEmpty)
            _ = try await store.record([event("e1", .delivered, email: id)], receivedAt: clock.now, policy: policy)
            _ = try await store.record([event("e1", .delivered, email: id)], receivedAt: clock.now, policy: policy)
            try await store.countRefusedEventRequest(provider: "ses", at: clock.now)
            try await store.countRefusedEventRequest(provider: "mailgun", at: clock.now)
            let statistics = try await store.eventStatistics(since: clock.now.addingTimeInterval(-86400))
            #expect(statistics["ses"] == ProviderEventStatistics(events: 1, refusedRequests: 1, lastEventAt: clock.now))
            #expect(statistics["mailgun"] == ProviderEventStatistics(events: 0, refusedRequests: 1, lastEventAt: nil))
            let later = try await store.eventStatistics(since: clock.now.addingTimeInterval(2 * 3600))
            #expect(later["ses"] == ProviderEventStatistics(events: 0, refusedRequests: 0, lastEventAt: clock.now))
        }
    }
}
