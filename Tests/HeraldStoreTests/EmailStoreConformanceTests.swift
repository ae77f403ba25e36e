import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// What every store does, checked against SQLite and PostgreSQL alike.
@Suite("Email store conformance")
struct EmailStoreConformanceTests {
    let clock = ManualClock()

    func accept(_ store: any HeraldStore) async throws -> EmailID {
        let id = EmailID(date: clock.now)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now))
        return id
    }

    func lease(_ store: any HeraldStore, owner: String = "node-a", seconds: Int64 = 60) async throws -> [LeasedEmail] {
        try await store.leaseDueEmails(limit: 10, owner: owner, now: clock.now, duration: .seconds(seconds))
    }

    /// Every store method that takes a tenant keeps the other tenants' emails out of reach: not
    /// found by id, not listed, not moved by single or bulk retry and cancel.
    @Test(arguments: StoreKind.allCases)
    func `another tenant's emails are not found, listed, retried or cancelled`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = EmailID(date: clock.now)
            try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, tenant: "acme"))

            #expect(try await store.email(id, tenant: "globex") == nil)
            #expect(try await store.emails(matching: EmailFilter(tenant: "globex"), limit: 10, after: nil).isEmpty)
            await #expect(throws: StoreError.notFound) { try await store.cancel(id, tenant: "globex", now: clock.now) }
            await #expect(throws: StoreError.notFound) { try await store.retry(id, tenant: "globex", now: clock.now) }
            #expect(try await store.cancel(matching: EmailFilter(tenant: "globex", status: .queued), now: clock.now) == 0)
            #expect(try await store.retry(matching: EmailFilter(tenant: "globex"), now: clock.now) == 0)
            #expect(try await store.count(matching: EmailFilter(tenant: "globex"), in: EmailStatus.cancellable) == 0)

            let own = try #require(try await store.email(id, tenant: "acme"))
            #expect(own.status == .queued)
            #expect(own.events.map(\.kind) == [.queued], "nothing another tenant did reached it")
            #expect(try await store.emails(matching: EmailFilter(tenant: "acme"), limit: 10, after: nil).map(\.id) == [id])
            try await store.cancel(id, tenant: "acme", now: clock.now)
            #expect(try await store.email(id, tenant: nil)?.status == .cancelled, "a nil tenant is every tenant")
        }
    }

    /// More emails than one transaction of a bulk operation moves: each is moved once, with
    /// one event, across the transactions' boundaries, and other tenants' emails stay.
    @Test(arguments: StoreKind.allCases)
    func `counts, then cancels in bulk across transactions, each email once`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let count = 2 * EmailFilter.emailsPerTransaction + 345
            let acme = (0..<count).map { _ in
                NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now, tenant: "acme")
            }
            let globex = (0..<10).map { _ in
                NewEmail(id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now, tenant: "globex")
            }
            try await store.insert(batch: acme + globex)
            // What a bulk cancel would move, counted first, as the console shows it before acting.
            #expect(try await store.count(matching: EmailFilter(tenant: "acme"), in: EmailStatus.cancellable) == count)
            #expect(try await store.count(matching: EmailFilter(status: .queued), in: EmailStatus.cancellable) == count + 10)
            #expect(try await store.count(matching: EmailFilter(tenant: "acme", status: .failed), in: EmailStatus.cancellable) == 0)
            #expect(try await store.count(matching: EmailFilter(tenant: "acme"), in: EmailStatus.retryable) == 0)
            #expect(try await store.cancel(matching: EmailFilter(tenant: "acme"), now: clock.now) == count)
            #expect(try await store.count(matching: EmailFilter(tenant: "acme"), in: EmailStatus.cancellable) == 0)
            #expect(try await store.cancel(matching: EmailFilter(tenant: "acme"), now: clock.now) == 0)
            #expect(try await store.queueStatistics(now: clock.now).emailsByStatus[.queued] == 10)
            for email in stride(from: 0, to: count, by: 97).map({ acme[$0] }) + [acme[count - 1]] {
                #expect(try await store.email(email.id)?.events.map(\.kind) == [.queued, .cancelled])
            }
            #expect(try await store.email(globex[0].id)?.status == .queued)
        }
    }

    /// By recipient: To, Cc and Bcc alike, in any letter case, newest first, page by page,
    /// within the tenant, and with the status filter.
    @Test(arguments: StoreKind.allCases)
    func `lists the emails sent to an address, newest first, within the tenant`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            func email(to: [String] = [], cc: [String] = [], bcc: [String] = [], tenant: String = "acme") -> NewEmail {
                var message = EmailMessage.sample()
                message.to = to.map { EmailAddress(address: $0) }
                message.cc = cc.map { EmailAddress(address: $0) }
                message.bcc = bcc.map { EmailAddress(address: $0) }
                // Ids in the order made: each a millisecond later than the one before.
                defer { clock.advance(by: .milliseconds(5)) }
                return NewEmail(id: EmailID(date: clock.now), message: message, acceptedAt: clock.now, tenant: tenant)
            }
            let toBob = email(to: ["Bob@Example.com"])
            let ccBob = email(to: ["carol@example.com"], cc: ["bob@example.com"])
            let bccBob = email(to: ["carol@example.com"], cc: ["bob@example.com"], bcc: ["BOB@example.com"])
            let other = email(to: ["carol@example.com"])
            let globex = email(to: ["bob@example.com"], tenant: "globex")
            for email in [toBob, ccBob, bccBob, other, globex] { try await store.insert(email) }
            let bobs = try await store.emails(matching: EmailFilter(tenant: "acme", recipient: "bob@EXAMPLE.com"), limit: 10, after: nil)
            #expect(bobs.map(\.id) == [bccBob.id, ccBob.id, toBob.id], "each email once, newest first")
            let first = try await store.emails(matching: EmailFilter(tenant: "acme", recipient: "bob@example.com"), limit: 2, after: nil)
            let rest = try await store.emails(
                matching: EmailFilter(tenant: "acme", recipient: "bob@example.com"), limit: 2, after: first.last?.id)
            #expect((first + rest).map(\.id) == [bccBob.id, ccBob.id, toBob.id])
            try await store.cancel(ccBob.id, now: clock.now)
            #expect(
                try await store.emails(
                    matching: EmailFilter(tenant: "acme", status: .cancelled, recipient: "bob@example.com"), limit: 10, after: nil
                ).map(\.id)
                    == [ccBob.id])
            #expect(try await store.emails(matching: EmailFilter(recipient: "bob@example.com"), limit: 10, after: nil).count == 4)
            #expect(
                try await store.emails(matching: EmailFilter(tenant: "acme", recipient: "nobody@example.com"), limit: 10, after: nil)
                    .isEmpty)
        }
    }

    /// The list's filters, each alone and together, in the list and in a bulk count alike: a
    /// tag, a provider (the one that sent the email or only one it was tried on), creation times
    /// (from inclusive, until exclusive) and a recipient.
    @Test(arguments: StoreKind.allCases)
    func `lists and counts by tag, provider, creation time and recipient`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            func accept(tags: [String], to recipient: String = "carol@example.com") async throws -> EmailID {
                var message = EmailMessage.sample()
                message.tags = tags
                message.to = [EmailAddress(address: recipient)]
                defer { clock.advance(by: .seconds(10)) }
                let id = EmailID(date: clock.now)
                try await store.insert(NewEmail(id: id, message: message, acceptedAt: clock.now, tenant: "acme"))
                return id
            }
            let start = clock.now
            let welcome = try await accept(tags: ["welcome", "2fa"])
            let receipt = try await accept(tags: ["receipt"], to: "Dave@example.com")
            let welcomeAgain = try await accept(tags: ["welcome"])
            // The first email fails over from a to b; the second stays on a.
            for (index, leased) in try await lease(store).sorted(by: { $0.id.rawValue < $1.id.rawValue }).enumerated() where index < 2 {
                func progress(_ attempt: Attempt?, _ next: DeliveryProgress.Next) -> DeliveryProgress {
                    DeliveryProgress(emailID: leased.id, leaseToken: leased.leaseToken, finishedAttempt: attempt, next: next, at: clock.now)
                }
                try await store.record(progress(nil, .attempt(number: 1, provider: "a")))
                if index == 0 {
                    let failed = Attempt(
                        number: 1, provider: "a", startedAt: clock.now, latencyMilliseconds: 5, outcome: .failed, errorClass: .transient)
                    try await store.record(progress(failed, .attempt(number: 2, provider: "b")))
                    let sent = Attempt(number: 2, provider: "b", startedAt: clock.now, latencyMilliseconds: 5, outcome: .sent)
                    try await store.record(progress(sent, .sent(provider: "b", providerMessageID: "b-1")))
                } else {
                    let sent = Attempt(number: 1, provider: "a", startedAt: clock.now, latencyMilliseconds: 5, outcome: .sent)
                    try await store.record(progress(sent, .sent(provider: "a", providerMessageID: "a-1")))
                }
            }
            func listed(_ filter: EmailFilter) async throws -> [EmailID] {
                var filter = filter
                filter.tenant = "acme"
                return try await store.emails(matching: filter, limit: 10, after: nil).map(\.id)
            }
            #expect(try await listed(EmailFilter(tag: "welcome")) == [welcomeAgain, welcome])
            #expect(try await listed(EmailFilter(tag: "2fa")) == [welcome])
            #expect(try await listed(EmailFilter(tag: "welcom")).isEmpty, "a tag matches whole")
            #expect(try await listed(EmailFilter(provider: "a")) == [receipt, welcome], "tried on a counts")
            #expect(try await listed(EmailFilter(provider: "b")) == [welcome])
            #expect(try await listed(EmailFilter(status: .sent, tag: "welcome")) == [welcome])
            let second = start.addingTimeInterval(10)
            #expect(try await listed(EmailFilter(createdAfter: second)) == [welcomeAgain, receipt])
            #expect(try await listed(EmailFilter(createdBefore: second)) == [welcome])
            #expect(try await listed(EmailFilter(createdAfter: second, createdBefore: second.addingTimeInterval(10))) == [receipt])
            #expect(try await listed(EmailFilter(tag: "welcome", recipient: "CAROL@example.com")) == [welcomeAgain, welcome])
            #expect(try await listed(EmailFilter(tag: "welcome", recipient: "dave@example.com")).isEmpty)
            #expect(try await store.emails(matching: EmailFilter(tenant: "globex", tag: "welcome"), limit: 10, after: nil).isEmpty)
            let page = try await store.emails(matching: EmailFilter(tenant: "acme", tag: "welcome"), limit: 1, after: welcomeAgain)
            #expect(page.map(\.id) == [welcome])
            #expect(try await store.count(matching: EmailFilter(recipient: "dave@EXAMPLE.com"), in: EmailStatus.retryable) == 0)
            #expect(try await store.count(matching: EmailFilter(provider: "a", recipient: "dave@example.com"), in: [.sent]) == 1)
            #expect(try await store.count(matching: EmailFilter(tag: "welcome"), in: [.sent, .sending, .queued]) == 2)
        }
    }

    /// The overview's chart: what each minute saw, counted in the transactions that made it
    /// so, and nothing for a change the store refused; a minute's slot starts over a day later.
    @Test(arguments: StoreKind.allCases)
    func `counts activity by the minute, and a minute a day later starts over`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let start = clock.now
            let ids = [try await accept(store), try await accept(store), try await accept(store)]
            clock.advance(by: .seconds(60))
            let leased = try await lease(store)
            for (index, email) in leased.enumerated() {
                let next: DeliveryProgress.Next = index < 2 ? .sent(provider: "a", providerMessageID: nil) : .failed(reason: "bad")
                try await store.record(
                    DeliveryProgress(emailID: email.id, leaseToken: email.leaseToken, finishedAttempt: nil, next: next, at: clock.now))
            }
            // Refused under a lease that passed on: not counted.
            await #expect(throws: StoreError.leaseLost) {
                try await store.record(
                    DeliveryProgress(
                        emailID: ids[0], leaseToken: leased[0].leaseToken, finishedAttempt: nil,
                        next: .sent(provider: "a", providerMessageID: nil), at: clock.now))
            }
            let bounce = ProviderEvent(
                id: "b1", provider: "a", kind: .bounced, occurredAt: clock.now, recipient: "bob@example.com", emailID: ids[0],
                bounce: .init(severity: .hard, classification: "Permanent"))
            #expect(
                try await store.record([bounce, bounce], receivedAt: clock.now, policy: EventSuppressionPolicy()) == [
                    .recorded, .duplicate,
                ])

            func counts(since: Date) async throws -> [String] {
                try await store.activity(since: since).map {
                    "\(Int($0.minute.timeIntervalSince(start) / 60)) \($0.kind.rawValue) \($0.count)"
                }.sorted()
            }
            #expect(try await counts(since: start) == ["0 accepted 3", "1 bounced 1", "1 failed 1", "1 sent 2"])
            #expect(try await counts(since: clock.now) == ["1 bounced 1", "1 failed 1", "1 sent 2"])

            // The same minute of the next day reuses the slot, counting afresh.
            clock.advance(by: .seconds(86_400 - 60))
            _ = try await accept(store)
            #expect(try await counts(since: clock.now) == ["1440 accepted 1"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `stores an accepted email as queued with its first event`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let email = try #require(try await store.email(id))
            #expect(email.status == .queued)
            #expect(email.message == .sample())
            #expect(email.events.map(\.kind) == [.queued])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `fails only the failing write of a batch`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let stale = DeliveryProgress(emailID: EmailID(), leaseToken: 1, finishedAttempt: nil, next: .failed(reason: "x"), at: clock.now)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        if index == 50 {
                            await #expect(throws: StoreError.leaseLost) { try await store.record(stale) }
                            return false
                        }
                        _ = try await accept(store)
                        return true
                    }
                }
                var accepted = 0
                for try await succeeded in group where succeeded { accepted += 1 }
                #expect(accepted == 99)
            }
            #expect(try await store.emails(status: .queued, limit: 200, after: nil).count == 99)
        }
    }

    /// Accepts that arrive together share a write (a transaction on SQLite, a statement on
    /// PostgreSQL); an email the database refuses (here an id it holds already) fails alone.
    @Test(arguments: StoreKind.allCases)
    func `fails only the accept the database refuses, of many at once`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let taken = try await accept(store)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        guard index == 100 else {
                            var message = EmailMessage.sample()
                            message.tags = ["batch", "n\(index)"]
                            try await store.insert(NewEmail(id: EmailID(), message: message, acceptedAt: clock.now))
                            return true
                        }
                        await #expect(throws: StoreError.self) {
                            try await store.insert(NewEmail(id: taken, message: .sample(), acceptedAt: clock.now))
                        }
                        return false
                    }
                }
                var accepted = 0
                for try await succeeded in group where succeeded { accepted += 1 }
                #expect(accepted == 199)
            }
            let batch = EmailFilter(tag: "batch")
            #expect(try await store.count(matching: batch, in: [.queued]) == 199)
            #expect(try await store.count(matching: EmailFilter(tag: "n7"), in: [.queued]) == 1)
            let original = try #require(try await store.email(taken, tenant: nil))
            #expect(original.message.tags == EmailMessage.sample().tags)
            #expect(original.events.map(\.kind) == [.queued])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `leases due emails once until the lease expires`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let first = try await lease(store)
            #expect(first.map(\.id) == [id])
            #expect(first[0].round == 1)
            #expect(try await lease(store, owner: "node-b").isEmpty)
            clock.advance(by: .seconds(61))
            let second = try await lease(store, owner: "node-b")
            #expect(second.map(\.id) == [id])
            #expect(second[0].leaseToken > first[0].leaseToken)
            #expect(second[0].round == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `hands back an owner's leases but the held ones, which stay leased`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let held = try await accept(store)
            let unheld = try await accept(store)
            #expect(Set(try await lease(store).map(\.id)) == [held, unheld])
            let other = try await accept(store)
            #expect(try await lease(store, owner: "node-b").map(\.id) == [other])
            try await store.releaseLeases(owner: "node-a", except: [held], now: clock.now)
            #expect(try await lease(store, owner: "node-c").map(\.id) == [unheld])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `does not lease deferred emails before their time`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let leased = try await lease(store)[0]
            let later = clock.now.adding(.seconds(30))
            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .deferred(until: later, reason: "x"),
                    at: clock.now)
            )
            #expect(try await lease(store).isEmpty)
            clock.advance(by: .seconds(30))
            #expect(try await lease(store).map(\.id) == [id])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `records attempts and the outcome in the history`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let leased = try await lease(store)[0]
            func progress(_ attempt: Attempt?, _ next: DeliveryProgress.Next) -> DeliveryProgress {
                DeliveryProgress(emailID: id, leaseToken: leased.leaseToken, finishedAttempt: attempt, next: next, at: clock.now)
            }
            try await store.record(progress(nil, .attempt(number: 1, provider: "a")))
            let failed = Attempt(
                number: 1, provider: "a", startedAt: clock.now, latencyMilliseconds: 12, outcome: .failed,
                errorClass: .transient, errorCode: "http_503", message: "unavailable"
            )
            try await store.record(progress(failed, .attempt(number: 2, provider: "b")))
            let sent = Attempt(number: 2, provider: "b", startedAt: clock.now, latencyMilliseconds: 8, outcome: .sent)
            try await store.record(progress(sent, .sent(provider: "b", providerMessageID: "b-1")))

            let email = try #require(try await store.email(id))
            #expect(email.status == .sent)
            #expect(email.provider == "b")
            #expect(email.providerMessageID == "b-1")
            #expect(email.attempts == [failed, sent])
            #expect(email.events.map(\.kind) == [.queued, .attemptStarted, .attemptFailed, .attemptStarted, .sent])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `refuses progress under a lease that has passed on`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let stale = try await lease(store)[0]
            clock.advance(by: .seconds(61))
            _ = try await lease(store, owner: "node-b")
            await #expect(throws: StoreError.leaseLost) {
                try await store.record(
                    DeliveryProgress(
                        emailID: id, leaseToken: stale.leaseToken, finishedAttempt: nil, next: .failed(reason: "x"), at: clock.now)
                )
            }
            // Nothing of a refused progress stays, not even the history written before the
            // lease was found lost.
            let late = Attempt(number: 1, provider: "a", startedAt: clock.now, latencyMilliseconds: 5, outcome: .sent)
            await #expect(throws: StoreError.leaseLost) {
                try await store.record(
                    DeliveryProgress(
                        emailID: id, leaseToken: stale.leaseToken, finishedAttempt: late,
                        next: .sent(provider: "a", providerMessageID: nil), at: clock.now)
                )
            }
            let email = try #require(try await store.email(id))
            #expect(email.attempts.isEmpty)
            #expect(email.events.map(\.kind) == [.queued])
            #expect(email.status == .sending)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `records an attempt cut short by an expired lease as ambiguous`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            let leased = try await lease(store)[0]
            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .attempt(number: 1, provider: "a"),
                    at: clock.now)
            )
            clock.advance(by: .seconds(61))
            let again = try await lease(store, owner: "node-b")
            #expect(again.first?.attemptsSoFar == 1)
            let email = try #require(try await store.email(id))
            #expect(email.attempts.count == 1)
            #expect(email.attempts[0].errorClass == .ambiguous)
            #expect(email.attempts[0].provider == "a")
            #expect(email.events.last?.kind == .attemptFailed)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `keeps provider states and counts sends per provider, day and month`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let paused = ProviderStateRecord(provider: "primary", paused: true, breakerOpenUntil: clock.now.adding(.seconds(30)))
            try await store.saveProviderState(paused)
            try await store.saveProviderState(ProviderStateRecord(provider: "secondary", throttledUntil: clock.now))
            try await store.saveProviderState(ProviderStateRecord(provider: "secondary"))
            #expect(try await store.providerStates() == [paused, ProviderStateRecord(provider: "secondary")])

            for _ in 0..<3 {
                let id = try await accept(store)
                let leased = try #require(try await lease(store).first { $0.id == id })
                try await store.record(
                    DeliveryProgress(
                        emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil,
                        next: .sent(provider: "primary", providerMessageID: nil), at: clock.now))
            }
            #expect(try await store.sendCounts(at: clock.now) == ["primary": [.day: 3, .month: 3]])
            #expect(try await store.sendCounts(at: clock.now.adding(.seconds(40 * 86_400))).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `counts only the sends whose progress was written, when many are written at once`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            for _ in 0..<8 { _ = try await accept(store) }
            let leased = try await lease(store)
            #expect(leased.count == 8)
            // Written together, so that one batch may hold both kinds; every other one under a
            // lease token that is not the email's.
            let refused = try await withThrowingTaskGroup(of: Bool.self) { group in
                for (index, email) in leased.enumerated() {
                    group.addTask {
                        let token = index.isMultiple(of: 2) ? email.leaseToken : email.leaseToken + 100
                        do {
                            try await store.record(
                                DeliveryProgress(
                                    emailID: email.id, leaseToken: token, finishedAttempt: nil,
                                    next: .sent(provider: "primary", providerMessageID: nil), at: clock.now))
                            return false
                        } catch let error as StoreError where error.code == .leaseLost {
                            return true
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(refused == 4)
            #expect(try await store.sendCounts(at: clock.now) == ["primary": [.day: 4, .month: 4]])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `retries only failed emails and cancels only waiting ones`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            let id = try await accept(store)
            await #expect(throws: StoreError(.invalidTransition, "the email is queued")) { try await store.retry(id, now: clock.now) }
            let leased = try await lease(store)[0]
            await #expect(throws: StoreError.self) { try await store.cancel(id, now: clock.now) }
            try await store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .failed(reason: "permanent:x"), at: clock.now)
            )
            try await store.retry(id, now: clock.now)
            #expect(try await store.email(id)?.status == .queued)
            #expect(try await lease(store).first?.round == 1)

            let other = try await accept(store)
            try await store.cancel(other, now: clock.now)
            let cancelled = try #require(try await store.email(other))
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.events.map(\.kind) == [.queued, .cancelled])
            await #expect(throws: StoreError.notFound) { try await store.cancel(EmailID(), now: clock.now) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `lists newest first in pages`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            var ids: [EmailID] = []
            for _ in 0..<5 {
                ids.append(try await accept(store))
                clock.advance(by: .milliseconds(2))
            }
            let first = try await store.emails(status: nil, limit: 2, after: nil)
            #expect(first.map(\.id) == [ids[4], ids[3]])
            let second = try await store.emails(status: nil, limit: 2, after: first.last?.id)
            #expect(second.map(\.id) == [ids[2], ids[1]])
            #expect(try await store.emails(status: .sent, limit: 10, after: nil).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `counts the emails in the queue and finds the one due the longest`(kind: StoreKind) async throws {
        try await kind.withStore(now: clock.now) { store in
            func statistics() async throws -> QueueStatistics { try await store.queueStatistics(now: clock.now) }
            func queue(_ queued: Int, _ sending: Int, _ deferred: Int, oldestDueAt: Date?) -> QueueStatistics {
                QueueStatistics(emailsByStatus: [.queued: queued, .sending: sending, .deferred: deferred], oldestDueAt: oldestDueAt)
            }
            #expect(try await statistics() == queue(0, 0, 0, oldestDueAt: nil))

            let start = clock.now
            let first = try await accept(store)
            clock.advance(by: .seconds(5))
            let second = try await accept(store)
            clock.advance(by: .seconds(5))
            #expect(try await statistics() == queue(2, 0, 0, oldestDueAt: start))

            // A leased email is not due; a deferred one only once its time has come.
            let leased = try #require(
                try await store.leaseDueEmails(limit: 1, owner: "node-a", now: clock.now, duration: .seconds(60)).first)
            #expect(leased.id == first)
            #expect(try await statistics() == queue(1, 1, 0, oldestDueAt: start.adding(.seconds(5))))
            let retryAt = clock.now.adding(.seconds(30))
            try await store.record(
                DeliveryProgress(
                    emailID: first, leaseToken: leased.leaseToken, finishedAttempt: nil,
                    next: .deferred(until: retryAt, reason: "transient:x"), at: clock.now)
            )

            // Final emails are not counted.
            let other = try #require(try await lease(store).first)
            #expect(other.id == second)
            try await store.record(
                DeliveryProgress(
                    emailID: second, leaseToken: other.leaseToken, finishedAttempt: nil, next: .failed(reason: "permanent:x"),
                    at: clock.now)
            )
            #expect(try await statistics() == queue(0, 0, 1, oldestDueAt: nil))
            clock.advance(by: .seconds(31))
            #expect(try await statistics() == queue(0, 0, 1, oldestDueAt: retryAt))

            // An email whose lease ran out is due again, from the lease's end.
            let leaseEnd = clock.now.adding(.seconds(10))
            #expect(try await lease(store, seconds: 10).map(\.id) == [first])
            clock.advance(by: .seconds(11))
            #expect(try await statistics() == queue(0, 1, 0, oldestDueAt: leaseEnd))
        }
    }
}
