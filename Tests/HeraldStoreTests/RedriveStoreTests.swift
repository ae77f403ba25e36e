import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// The redrive of failed emails on both stores: which emails it takes, what it writes, and the
/// one `email.failed` webhook per failure.
@Suite("Redrive store conformance")
struct RedriveStoreTests {
    let clock = ManualClock()

    func accept(_ store: any HeraldStore, tenant: String = "acme") async throws -> EmailID {
        let id = EmailID(date: clock.now)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, tenant: tenant))
        return id
    }

    /// Leases the one due email and ends its round: failed after an attempt of `errorClass`, or
    /// after no attempt at all for nil; sent for `sent`.
    func finishRound(_ store: any HeraldStore, _ id: EmailID, failing errorClass: ErrorClass?, sent: Bool = false) async throws {
        let leased = try await store.leaseDueEmails(limit: 10, owner: "node", now: clock.now, duration: .seconds(60))
        let email = try #require(leased.first)
        #expect(leased.map(\.id) == [id])
        let number = email.attemptsSoFar + 1
        if sent || errorClass != nil {
            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: email.leaseToken, finishedAttempt: nil, next: .attempt(number: number, provider: "relay"),
                    at: clock.now))
        }
        let attempt = Attempt(
            number: number, provider: "relay", startedAt: clock.now, latencyMilliseconds: 5,
            outcome: sent ? .sent : .failed, errorClass: sent ? nil : errorClass, errorCode: sent ? nil : "code")
        try await store.record(
            DeliveryProgress(
                emailID: id, leaseToken: email.leaseToken, finishedAttempt: sent || errorClass != nil ? attempt : nil,
                next: sent ? .sent(provider: "relay", providerMessageID: nil) : .failed(reason: "gave up"), at: clock.now))
    }

    func selection(classes: Set<ErrorClass> = [.transient, .ambiguous], fewerThan: Int = 2, reason: String = "interval")
        -> RedriveSelection
    {
        RedriveSelection(
            errorClasses: classes, redrivenFewerThan: fewerThan, acceptedAfter: clock.now.adding(.seconds(-3600)),
            failedBefore: clock.now.adding(.seconds(-60)), reason: reason)
    }

    @Test(arguments: StoreKind.allCases)
    func `redrives only failed emails of the chosen classes, young enough, failed long enough ago, fewer times than allowed`(
        kind: StoreKind
    ) async throws {
        try await kind.withStore(now: clock.now) { store in
            // Accepted two hours ago: too old for a redrive that looks one hour back.
            clock.advance(by: .seconds(-7200))
            let old = try await accept(store)
            try await finishRound(store, old, failing: .transient)
            clock.advance(by: .seconds(7200 - 600))

            let transient = try await accept(store)
            try await finishRound(store, transient, failing: .transient)
            let ambiguous = try await accept(store)
            try await finishRound(store, ambiguous, failing: .ambiguous)
            let nothingTried = try await accept(store)
            try await finishRound(store, nothingTried, failing: nil)
            let permanent = try await accept(store)
            try await finishRound(store, permanent, failing: .permanent)
            let providerFatal = try await accept(store)
            try await finishRound(store, providerFatal, failing: .providerFatal)
            let sent = try await accept(store)
            try await finishRound(store, sent, failing: nil, sent: true)
            let queued = try await accept(store)
            try await store.cancel(queued, now: clock.now)
            clock.advance(by: .seconds(570))
            // Failed 30 s before the redrive: the minute since its failure has not passed.
            let recent = try await accept(store)
            try await finishRound(store, recent, failing: .transient)
            clock.advance(by: .seconds(30))

            #expect(try await store.redrive(selection(reason: "interval"), now: clock.now) == 3)
            for id in [transient, ambiguous, nothingTried] {
                let email = try #require(try await store.email(id))
                #expect(email.status == .queued)
                #expect(email.failureReason == nil)
                #expect(email.events.last == EmailEvent(kind: .redriven, at: clock.now, detail: "interval"))
            }
            #expect(try await store.email(transient)?.attempts.count == 1, "the history stays")
            for (id, status) in [
                (old, EmailStatus.failed), (permanent, .failed), (providerFatal, .failed), (sent, .sent), (queued, .cancelled),
                (recent, .failed),
            ] {
                #expect(try await store.email(id)?.status == status)
            }
            #expect(try await store.redrive(selection(), now: clock.now) == 0, "each email once")
            #expect(try await store.redrive(selection(classes: [.providerFatal]), now: clock.now) == 1)
            // Permanent and recipient failures are never redriven, whatever the selection asks.
            #expect(try await store.redrive(selection(classes: [.permanent, .recipient]), now: clock.now) == 0)
            clock.advance(by: .seconds(31))
            #expect(try await store.redrive(selection(), now: clock.now) == 1, "over a minute after its failure")
            #expect(try await store.email(recent)?.status == .queued)
            for id in [ambiguous, nothingTried, providerFatal, recent] { try await store.cancel(id, now: clock.now) }

            // Redriven once and failed again: once more is allowed (fewer than 2), then no
            // more, until a manual retry starts the count afresh.
            func failAgainAndRedrive() async throws -> Int {
                try await finishRound(store, transient, failing: .transient)
                clock.advance(by: .seconds(120))
                return try await store.redrive(selection(), now: clock.now)
            }
            #expect(try await failAgainAndRedrive() == 1)
            #expect(try await failAgainAndRedrive() == 0)
            try await store.retry(transient, now: clock.now)
            #expect(try await failAgainAndRedrive() == 1)
            let kinds = try #require(try await store.email(transient)?.events.map(\.kind))
            #expect(kinds.filter { $0 == .redriven }.count == 3)
            #expect(kinds.filter { $0 == .retried }.count == 1)
        }
    }

    /// More failed emails than one transaction moves: each is redriven once, across pages.
    @Test(arguments: StoreKind.allCases)
    func `redrives in pages, each email once`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let count = EmailFilter.emailsPerTransaction + 37
            let emails = (0..<count).map { _ in NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now) }
            try await store.insert(batch: emails)
            var leased: [LeasedEmail] = []
            while leased.count < count {
                leased += try await store.leaseDueEmails(limit: 50, owner: "node", now: clock.now, duration: .seconds(60))
            }
            for email in leased {
                try await store.record(
                    DeliveryProgress(
                        emailID: email.id, leaseToken: email.leaseToken, finishedAttempt: nil, next: .failed(reason: "gave up"),
                        at: clock.now))
            }
            clock.advance(by: .seconds(120))
            let redriven = try await store.redrive(selection(), now: clock.now)
            #expect(redriven == count)
            let queued = try await store.queueStatistics(now: clock.now).emailsByStatus[.queued]
            #expect(queued == count)
            #expect(try await store.redrive(selection(), now: clock.now) == 0)
        }
    }

    /// The application heard of the failure when it happened; a redrive that fails again is the
    /// same failure. A send after a redrive is news, and so is a failure after a manual retry.
    @Test(arguments: StoreKind.allCases)
    func `a redriven email that fails again announces no second email.failed`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            try await store.createWebhookEndpoint(.hook(types: [.failed, .sent], at: clock.now), sealedSecret: [1])
            func announced() async throws -> [WebhookEventType] {
                let deliveries = try await store.leaseWebhookDeliveries(limit: 100, owner: "node", now: clock.now, duration: .seconds(3600))
                return deliveries.map(\.type)
            }
            let id = try await accept(store)
            try await finishRound(store, id, failing: .transient)
            #expect(try await announced() == [.failed])

            clock.advance(by: .seconds(120))
            #expect(try await store.redrive(selection(), now: clock.now) == 1)
            try await finishRound(store, id, failing: .transient)
            #expect(try await announced() == [], "the same failure, announced once")

            try await store.retry(id, now: clock.now)
            try await finishRound(store, id, failing: .transient)
            #expect(try await announced() == [.failed], "a manual retry's failure is announced")

            clock.advance(by: .seconds(120))
            #expect(try await store.redrive(selection(), now: clock.now) == 1)
            try await finishRound(store, id, failing: nil, sent: true)
            #expect(try await announced() == [.sent])
        }
    }
}
