import Foundation
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Testing

/// Removal of old emails and their content, on both stores.
@Suite("Retention store conformance")
struct RetentionStoreTests {
    let clock = ManualClock()

    static let full = EmailMessage(
        from: EmailAddress(displayName: "Ada", address: "ada@example.org"), to: [EmailAddress(address: "Bob@Example.com")],
        cc: [EmailAddress(address: "carol@example.com")], bcc: [EmailAddress(address: "dan@example.com")],
        replyTo: [EmailAddress(address: "help@example.org")], subject: "Your invoice", text: "Dear Bob", html: "<p>Dear Bob</p>",
        headers: ["X-Campaign": "spring"],
        attachments: [Attachment(filename: "invoice.pdf", contentType: "application/pdf", content: Data("%PDF".utf8))],
        tags: ["invoice"], metadata: ["customer": "42"], providerOptions: ["ses": ["configuration_set": "main"]])

    /// Accepts an email and ends it `status` at once (nil leaves it queued, scheduled for later).
    func email(_ store: any HeraldStore, tenant: String = "acme", _ status: EmailStatus? = .sent) async throws -> EmailID {
        // A millisecond apart: ids are in the order the emails were made.
        clock.advance(by: .milliseconds(1))
        let id = EmailID(date: clock.now)
        let sendAt = status == nil ? clock.now.adding(.seconds(86_400)) : nil
        try await store.insert(NewEmail(id: id, message: Self.full, acceptedAt: clock.now, sendAt: sendAt, tenant: tenant))
        guard let status else { return id }
        if status == .cancelled {
            try await store.cancel(id, now: clock.now)
            return id
        }
        let leased = try #require(
            try await store.leaseDueEmails(limit: 10, owner: "node", now: clock.now, duration: .seconds(60)).first)
        #expect(leased.id == id)
        let next: DeliveryProgress.Next =
            switch status {
            case .failed: .failed(reason: "gave up")
            case .deferred: .deferred(until: clock.now.adding(.seconds(3600)), reason: "later")
            default: .sent(provider: "relay", providerMessageID: "m-\(id)")
            }
        try await store.record(
            DeliveryProgress(emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: next, at: clock.now))
        return id
    }

    @Test(arguments: StoreKind.allCases)
    func `finds finished emails by scope, range and kept content, in id order`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let sent = try await email(store)
            let failed = try await email(store, .failed)
            let cancelled = try await email(store, .cancelled)
            let queued = try await email(store, nil)
            let deferred = try await email(store, .deferred)
            let globex = try await email(store, tenant: "globex")
            clock.advance(by: .seconds(1))
            let later = try await email(store)
            let before = EmailID.first(at: clock.now)

            func finished(_ scope: RetentionScope, from: EmailID? = nil, withContent: Bool = false, limit: Int = 10) async throws
                -> [EmailID]
            {
                try await store.finishedEmails(in: scope, from: from, before: before, withContent: withContent, limit: limit)
            }
            #expect(try await finished(.tenant("acme")) == [sent, failed, cancelled])
            #expect(try await finished(.allTenants(but: [])) == [sent, failed, cancelled, globex].sorted())
            #expect(try await finished(.allTenants(but: ["acme"])) == [globex])
            #expect(try await finished(.tenant("acme"), limit: 2) == [sent, failed])
            #expect(try await finished(.tenant("acme"), from: failed) == [failed, cancelled], "from is inclusive")
            #expect(!(try await finished(.tenant("acme"))).contains(later), "before is exclusive")
            #expect(try await store.oldestUnfinishedEmail(in: .tenant("acme"), before: before) == min(queued, deferred))
            #expect(try await store.oldestUnfinishedEmail(in: .tenant("globex"), before: before) == nil)

            #expect(try await store.removeContent(of: [sent, queued], now: clock.now) == 1, "only finished emails")
            #expect(try await finished(.tenant("acme"), withContent: true) == [failed, cancelled])
        }
    }

    /// What stays is what routing, suppression, search and the history need.
    @Test(arguments: StoreKind.allCases)
    func `removing content keeps addresses, tags, metadata and the history, and nothing can be sent again`(kind: StoreKind)
        async throws
    {
        try await kind.withStore(now: clock.now) { store in
            let failed = try await email(store, .failed)
            let before = try #require(try await store.email(failed))
            clock.advance(by: .seconds(5))
            #expect(try await store.removeContent(of: [failed], now: clock.now) == 1)
            #expect(try await store.removeContent(of: [failed], now: clock.now) == 0, "once")

            let after = try #require(try await store.email(failed))
            #expect(after.contentRemovedAt?.milliseconds == clock.now.milliseconds)
            #expect(before.contentRemovedAt == nil)
            #expect(after.message == Self.full.removingContent())
            #expect(after.message.subject.isEmpty && after.message.text == nil && after.message.html == nil)
            #expect(after.message.attachments.isEmpty && after.message.headers.isEmpty && after.message.providerOptions.isEmpty)
            #expect(after.message.bcc == Self.full.bcc && after.message.metadata == Self.full.metadata)
            #expect(after.events == before.events)
            #expect(after.status == .failed)
            #expect(
                try await store.emails(matching: EmailFilter(recipient: "bob@example.com"), limit: 10, after: nil).map(\.id) == [failed])

            await #expect(throws: StoreError.contentRemoved) { try await store.retry(failed, now: clock.now) }
            #expect(try await store.count(matching: EmailFilter(status: .failed), in: EmailStatus.retryable) == 0)
            #expect(try await store.retry(matching: EmailFilter(status: .failed), now: clock.now) == 0)
            let redrive = RedriveSelection(
                errorClasses: [.transient], redrivenFewerThan: 5, acceptedAfter: .distantPast, failedBefore: clock.now.adding(.seconds(60)),
                reason: "interval")
            #expect(try await store.redrive(redrive, now: clock.now) == 0)
            #expect(try await store.email(failed)?.status == .failed)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `removes finished emails with their whole history, and leaves the others`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(.hook(at: clock.now), sealedSecret: [1])
            let sent = try await email(store)
            let queued = try await email(store, nil)
            let kept = try await email(store, .failed)
            _ = try await store.record(
                [
                    ProviderEvent(
                        id: "e1", provider: "relay", kind: .delivered, occurredAt: clock.now, recipient: "bob@example.com",
                        providerMessageID: "m-\(sent)", payload: Array("{}".utf8))
                ], receivedAt: clock.now, policy: EventSuppressionPolicy())
            #expect(try await store.email(sent)?.providerEvents.count == 1)

            #expect(try await store.removeEmails([sent, queued]) == 1, "only finished emails")
            #expect(try await store.email(sent) == nil)
            #expect(try await store.email(queued)?.status == .queued)
            #expect(try await store.email(kept)?.status == .failed)
            let byRecipient = try await store.emails(matching: EmailFilter(recipient: "carol@example.com"), limit: 10, after: nil)
            #expect(byRecipient.map(\.id) == [kept, queued], "newest first")

            // The webhook messages go by their age, but for those still to be delivered.
            let deliveries = try await store.leaseWebhookDeliveries(limit: 100, owner: "node", now: clock.now, duration: .seconds(60))
            #expect(deliveries.count == 6, "queued three times; sent, delivered, failed")
            for delivery in deliveries.dropFirst() {
                try await store.recordWebhookAttempt(
                    WebhookAttempt(
                        messageID: delivery.messageID, endpointID: delivery.endpointID, number: 1, at: clock.now, statusCode: 200,
                        latencyMilliseconds: 3, response: nil, error: nil, next: .delivered))
            }
            clock.advance(by: .seconds(61))
            #expect(try await store.removeWebhookMessages(in: .tenant("globex"), before: clock.now, limit: 10) == 0)
            #expect(try await store.removeWebhookMessages(in: .allTenants(but: []), before: clock.now, limit: 3) == 3)
            #expect(try await store.removeWebhookMessages(in: .tenant("acme"), before: clock.now, limit: 10) == 2)
            #expect(try await store.removeWebhookMessages(in: .tenant("acme"), before: clock.now, limit: 10) == 0)
            #expect(try await store.webhookAttempts(endpointID: "hook", tenant: "acme", limit: 10, before: nil).isEmpty)
            let pending = try await store.leaseWebhookDeliveries(limit: 100, owner: "node", now: clock.now, duration: .seconds(60))
            #expect(pending.map(\.messageID) == [deliveries[0].messageID], "the one still to be delivered stays")
        }
    }

    /// No body past delivery: the content goes in the transaction that records the send. A
    /// failure keeps it, for a retry; other emails keep theirs.
    @Test(arguments: StoreKind.allCases)
    func `a metadata-only email loses its content when it is recorded sent, not before`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            func accept(metadataOnly: Bool) async throws -> EmailID {
                clock.advance(by: .milliseconds(1))
                let id = EmailID(date: clock.now)
                try await store.insert(NewEmail(id: id, message: Self.full, acceptedAt: clock.now, metadataOnly: metadataOnly))
                return id
            }
            func finishRound(_ id: EmailID, _ next: DeliveryProgress.Next) async throws -> LeasedEmail {
                let leased = try #require(
                    try await store.leaseDueEmails(limit: 10, owner: "node", now: clock.now, duration: .seconds(60)).first)
                #expect(leased.id == id)
                #expect(leased.message == Self.full, "the provider gets the whole message")
                try await store.record(
                    DeliveryProgress(
                        emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: next, at: clock.now,
                        metadataOnly: leased.metadataOnly))
                return leased
            }
            let quiet = try await accept(metadataOnly: true)
            #expect(try await finishRound(quiet, .sent(provider: "relay", providerMessageID: "m1")).metadataOnly)
            let sent = try #require(try await store.email(quiet))
            #expect(sent.status == .sent)
            #expect(sent.message == Self.full.removingContent())
            #expect(sent.contentRemovedAt?.milliseconds == clock.now.milliseconds)

            let failing = try await accept(metadataOnly: true)
            _ = try await finishRound(failing, .failed(reason: "gave up"))
            #expect(try await store.email(failing)?.message == Self.full, "a failure keeps it for a retry")

            let plain = try await accept(metadataOnly: false)
            #expect(try await finishRound(plain, .sent(provider: "relay", providerMessageID: "m2")).metadataOnly == false)
            #expect(try await store.email(plain)?.contentRemovedAt == nil)
        }
    }

    @Test func `a new SQLite store gives the space of removed emails back to the file system`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            // Made by `herald keys create` before the first start, as the README has it.
            _ = try SQLiteEmailStore.openForKeys(path: path)
            let store = try SQLiteEmailStore.open(path: path, now: clock.now)
            #expect(try store.writerSettings().autoVacuum == 2)
            let big = EmailMessage(
                from: EmailAddress(address: "ada@example.org"), to: [EmailAddress(address: "bob@example.com")], subject: "Big",
                text: String(repeating: "x", count: 100_000))
            var ids: [EmailID] = []
            for _ in 0..<100 {
                let id = EmailID(date: clock.now)
                try await store.insert(NewEmail(id: id, message: big, acceptedAt: clock.now))
                try await store.cancel(id, now: clock.now)
                ids.append(id)
            }
            let full = try store.fileSizes()
            #expect(try await store.removeEmails(ids) == 100)
            #expect(try store.fileSizes().pages == full.pages, "removed rows leave free pages behind")
            for _ in 0..<20 { try await store.reclaimSpace() }
            let reclaimed = try store.fileSizes()
            #expect(reclaimed.pages < full.pages / 4)
            #expect(reclaimed.freePages == 0)
        }
    }
}
