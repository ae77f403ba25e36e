import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// The webhook outbox and delivery log on both stores.
@Suite("Webhook store conformance")
struct WebhookStoreTests {
    let clock = ManualClock()

    func endpoint(_ id: String, tenant: String = "acme", types: Set<WebhookEventType> = []) -> WebhookEndpoint {
        WebhookEndpoint(
            id: id, tenant: tenant, url: "https://hooks.example/\(id)", eventTypes: types, createdAt: clock.now, updatedAt: clock.now)
    }

    func accept(_ store: any HeraldStore, tenant: String = "acme") async throws -> EmailID {
        let id = EmailID(date: clock.now)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, tenant: tenant))
        return id
    }

    func lease(_ store: any HeraldStore) async throws -> [WebhookDelivery] {
        try await store.leaseWebhookDeliveries(limit: 100, owner: "node", now: clock.now, duration: .seconds(60))
    }

    func attempt(_ delivery: WebhookDelivery, _ next: WebhookAttempt.Next, status: Int? = 500) -> WebhookAttempt {
        WebhookAttempt(
            messageID: delivery.messageID, endpointID: delivery.endpointID, number: delivery.attempts + 1, at: clock.now,
            statusCode: status, latencyMilliseconds: 3, response: "nope", error: nil, next: next)
    }

    @Test(arguments: StoreKind.allCases)
    func `an accepted email writes its message in the same commit, to each endpoint of its tenant that wants it`(kind: StoreKind)
        async throws
    {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(endpoint("all"), sealedSecret: [1, 2, 3])
            try await store.createWebhookEndpoint(endpoint("bounces", types: [.bounced]), sealedSecret: [4])
            try await store.createWebhookEndpoint(endpoint("other", tenant: "globex"), sealedSecret: [5])
            let id = try await accept(store)
            let leased = try await lease(store)
            #expect(leased.map(\.endpointID) == ["all"])
            let delivery = try #require(leased.first)
            #expect(delivery.type == .queued)
            #expect(delivery.sealedSecrets == [[1, 2, 3]])
            #expect(delivery.messageID.hasPrefix("msg_"))
            let body = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any])
            #expect(body["type"] as? String == "email.queued")
            #expect((body["data"] as? [String: Any])?["email_id"] as? String == id.rawValue)
            #expect(try await lease(store).isEmpty, "leased once")
        }
    }

    /// SQLite keeps each tenant's endpoints in memory for its accepts: every change must reach
    /// the next accept all the same.
    @Test(arguments: StoreKind.allCases)
    func `every change to a tenant's endpoints reaches the next accept`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            func acceptAndLease() async throws -> [String] {
                _ = try await accept(store)
                return try await lease(store).map(\.endpointID)
            }
            #expect(try await acceptAndLease() == [])
            var hook = endpoint("hook")
            try await store.createWebhookEndpoint(hook, sealedSecret: [1])
            #expect(try await acceptAndLease() == ["hook"])
            hook.eventTypes = [.bounced]
            #expect(try await store.updateWebhookEndpoint(hook))
            #expect(try await acceptAndLease() == [])
            hook.eventTypes = []
            #expect(try await store.updateWebhookEndpoint(hook))
            #expect(try await acceptAndLease() == ["hook"])

            // Disabled by its own answer (410 Gone), then enabled again by hand.
            _ = try await accept(store)
            let gone = try #require(try await lease(store).first)
            try await store.recordWebhookAttempt(attempt(gone, .failed(disableEndpoint: "410 Gone"), status: 410))
            #expect(try await acceptAndLease() == [])
            hook.enabled = true
            #expect(try await store.updateWebhookEndpoint(hook))
            #expect(try await acceptAndLease() == ["hook"])

            try await store.createWebhookEndpoint(endpoint("second"), sealedSecret: [2])
            #expect(try await acceptAndLease().sorted() == ["hook", "second"])
            #expect(try await store.deleteWebhookEndpoint(id: "hook", tenant: "acme"))
            #expect(try await acceptAndLease() == ["second"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `a failed attempt waits for its time, a delivered one is done, and a replay sends it again`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(endpoint("hook"), sealedSecret: [1])
            _ = try await accept(store)
            let first = try #require(try await lease(store).first)
            try await store.recordWebhookAttempt(attempt(first, .retry(at: clock.now.addingTimeInterval(5))))
            #expect(try await lease(store).isEmpty)
            clock.advance(by: .seconds(5))
            let second = try #require(try await lease(store).first)
            #expect(second.messageID == first.messageID)
            #expect(second.attempts == 1)
            #expect(second.endpointFailingSince == clock.now.addingTimeInterval(-5))
            try await store.recordWebhookAttempt(attempt(second, .delivered, status: 204))
            clock.advance(by: .seconds(3600))
            #expect(try await lease(store).isEmpty)

            let log = try await store.webhookAttempts(endpointID: "hook", tenant: "acme", limit: 10, before: nil)
            #expect(log.map(\.number) == [2, 1])
            #expect(log.map(\.statusCode) == [204, 500])
            #expect(try await store.webhookAttempts(endpointID: "hook", tenant: "globex", limit: 10, before: nil).isEmpty)

            let replayed = try await store.replayWebhooks(
                endpointID: "hook", tenant: "acme", messageID: first.messageID, from: nil, to: nil, now: clock.now)
            #expect(replayed == 1)
            #expect(try await lease(store).map(\.messageID) == [first.messageID])
            #expect(try await lease(store).first?.endpointFailingSince == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `an endpoint disabled by an answer gets nothing more, and a rotated secret signs beside the new one until its time`(
        kind: StoreKind
    ) async throws {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(endpoint("gone"), sealedSecret: [1])
            try await store.createWebhookEndpoint(endpoint("kept"), sealedSecret: [2])
            _ = try await accept(store)
            for delivery in try await lease(store) where delivery.endpointID == "gone" {
                try await store.recordWebhookAttempt(
                    attempt(delivery, .failed(disableEndpoint: "the endpoint answered 410 Gone"), status: 410))
            }
            let gone = try #require(try await store.webhookEndpoint(id: "gone", tenant: "acme"))
            #expect(!gone.enabled)
            #expect(gone.disabledReason == "the endpoint answered 410 Gone")
            #expect(
                try await store.rotateWebhookSecret(
                    id: "kept", tenant: "acme", sealedSecret: [3], previousUntil: clock.now.addingTimeInterval(60), now: clock.now))
            _ = try await accept(store)
            let within = try #require(
                try await store.leaseWebhookDeliveries(limit: 10, owner: "n", now: clock.now.addingTimeInterval(30), duration: .seconds(1))
                    .first)
            #expect(within.endpointID == "kept", "nothing more for the disabled endpoint")
            #expect(within.sealedSecrets == [[3], [2]])
            try await store.recordWebhookAttempt(attempt(within, .retry(at: clock.now.addingTimeInterval(100))))
            let after = try await store.leaseWebhookDeliveries(
                limit: 10, owner: "n", now: clock.now.addingTimeInterval(100), duration: .seconds(1))
            // Both messages: this one's try, and the first one's, whose lease ran out.
            #expect(after.map(\.sealedSecrets) == [[[3]], [[3]]])
            #expect(try await store.deleteWebhookEndpoint(id: "kept", tenant: "globex") == false)
            #expect(try await store.deleteWebhookEndpoint(id: "kept", tenant: "acme"))
            #expect(try await store.webhookEndpoints(tenant: "acme").map(\.id) == ["gone"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `status changes and provider events write their messages, a repeated event none`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(endpoint("hook", types: [.sent, .bounced, .cancelled]), sealedSecret: [1])
            let id = try await accept(store)
            let leased = try #require(try await store.leaseDueEmails(limit: 1, owner: "n", now: clock.now, duration: .seconds(60)).first)
            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .sent(provider: "ses", providerMessageID: "m"),
                    at: clock.now))
            let bounce = ProviderEvent(
                id: "b1", provider: "ses", kind: .bounced, occurredAt: clock.now, recipient: "x@example.com", emailID: id,
                bounce: .init(severity: .hard, classification: "Permanent/General"))
            _ = try await store.record([bounce, bounce], receivedAt: clock.now, policy: .init())
            let later = EmailID(date: clock.now.addingTimeInterval(1))
            try await store.insert(NewEmail(id: later, message: .sample(), acceptedAt: clock.now, tenant: "acme"))
            try await store.cancel(later, now: clock.now)
            let types = try await lease(store).map(\.type)
            #expect(types.sorted { $0.rawValue < $1.rawValue } == [.bounced, .cancelled, .sent])
        }
    }
}
