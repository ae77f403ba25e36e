import Foundation
import HeraldCore
import HeraldProviders
import HeraldStoreSQLite
import HeraldTesting
import Logging
import MetricsTestKit
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import HeraldDelivery

/// Delivery rounds against a real SQLite store and sandbox providers, on a clock moved by hand.
@Suite("Dispatcher", .timeLimit(.minutes(2)))
struct DispatcherTests {
    let clock = ManualClock()
    let primary = SandboxProvider(name: "primary")
    let secondary = SandboxProvider(name: "secondary")
    let metrics = TestMetrics()
    let breaker = CircuitBreaker.Configuration(
        failureRateThreshold: 0.5, minimumCalls: 3, window: .seconds(30), openDuration: .seconds(60), halfOpenProbes: 1,
        slowCallThreshold: .seconds(10)
    )
    let retry = RetryPolicy.exponentialJitter(base: .seconds(30), cap: .seconds(900), maxAttempts: 3, maxAge: .seconds(3600))

    struct Harness {
        let store: SQLiteEmailStore
        let router: ProviderRouter
        let dispatcher: Dispatcher
        let clock: ManualClock

        func accept(_ count: Int = 1) async throws -> [EmailID] {
            var ids: [EmailID] = []
            for _ in 0..<count {
                let id = EmailID(date: clock.now)
                try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now))
                ids.append(id)
            }
            return ids
        }

        /// Leases what is due and runs one round for each.
        func runRounds() async throws {
            let leased = try await store.leaseDueEmails(limit: 100, owner: "test", now: clock.now, duration: .seconds(60))
            for email in leased { await dispatcher.deliver(email) }
        }

        func email(_ id: EmailID) async throws -> EmailDetail {
            try #require(try await store.email(id))
        }

        /// Runs the dispatcher as a service while `body` runs, then shuts it down gracefully.
        func runAsService(_ body: () async throws -> Void) async throws {
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await dispatcher.run() }
                    try await body()
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }

        func waitUntilSent(_ count: Int, timeout: Duration = .seconds(30)) async throws {
            let deadline = ContinuousClock.now + timeout
            while try await store.emails(status: .sent, limit: 100, after: nil).count < count {
                guard ContinuousClock.now < deadline else { throw TestFailure("\(count) emails were not sent within \(timeout)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    func withHarness(
        timeout: Duration = .seconds(5), concurrency: Int = 4, taskExecutor: (any TaskExecutor)? = nil, storeDirectory: URL? = nil,
        _ body: (Harness) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { directory in
            let databasePath = (storeDirectory ?? directory).appendingPathComponent("herald.db").path
            let store = try SQLiteEmailStore.open(path: databasePath, now: clock.now)
            let router = ProviderRouter(
                routes: [
                    .init(provider: secondary, priority: 2, timeout: timeout),
                    .init(provider: primary, priority: 1, timeout: timeout),
                ],
                breaker: breaker
            )
            let dispatcher = Dispatcher(
                store: store, router: router,
                configuration: .init(
                    concurrency: concurrency, pollInterval: .milliseconds(20), leaseDuration: .seconds(60), retryPolicy: retry,
                    owner: "test", taskExecutor: taskExecutor
                ),
                clock: clock, metricsFactory: metrics, logger: Logger(label: "test")
            )
            try await body(Harness(store: store, router: router, dispatcher: dispatcher, clock: clock))
        }
    }

    @Test func `sends through the provider with the lowest priority number`() async throws {
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .sent)
            #expect(email.provider == "primary")
            #expect(email.attempts.map(\.provider) == ["primary"])
        }
    }

    /// The provider gets the whole message; the store keeps no body once it is sent.
    @Test func `sends a metadata-only email whole and keeps none of its content`() async throws {
        try await withHarness { harness in
            let id = EmailID(date: clock.now)
            try await harness.store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, metadataOnly: true))
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .sent)
            #expect(primary.lastRecipients == ["bob@example.com"])
            #expect(email.contentRemovedAt != nil)
            #expect(email.message.text == nil && email.message.subject.isEmpty)
        }
    }

    @Test func `notes on a sent attempt the recipients the provider refused`() {
        let refused = RefusedRecipient(
            address: "nobody@example.com", failure: ProviderFailure(.recipient, code: "smtp_550_5.1.1", message: "refused"))
        var round = Round(
            email: LeasedEmail(
                id: EmailID(date: clock.now), message: .sample(), acceptedAt: clock.now, queuedAt: clock.now, leaseToken: 1, round: 1,
                attemptsSoFar: 0), policy: .priority)
        round.finish(
            1, provider: "relay", startedAt: clock.now, latency: .milliseconds(5),
            receipt: ProviderReceipt(providerMessageID: "q1", refusedRecipients: [refused]))
        let attempt = round.progress(next: .sent(provider: "relay", providerMessageID: "q1"), at: clock.now).finishedAttempt
        #expect(attempt?.outcome == .sent)
        #expect(attempt?.message == "refused 1 of 1 recipients: nobody@example.com (recipient:smtp_550_5.1.1)")
        round.finish(
            2, provider: "relay", startedAt: clock.now, latency: .milliseconds(5), receipt: ProviderReceipt(providerMessageID: nil))
        #expect(round.progress(next: .sent(provider: "relay", providerMessageID: nil), at: clock.now).finishedAttempt?.message == nil)
    }

    @Test(arguments: [ErrorClass.transient, .failover, .providerFatal])
    func `fails over to the next provider in the same round`(failure: ErrorClass) async throws {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: failure))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .sent)
            #expect(email.provider == "secondary")
            #expect(email.attempts.map(\.provider) == ["primary", "secondary"])
            #expect(email.attempts[0].errorClass == failure)
            #expect(email.events.map(\.kind) == [.queued, .attemptStarted, .attemptFailed, .attemptStarted, .sent])
        }
    }

    @Test(arguments: [ErrorClass.permanent, .recipient])
    func `fails at once when the message or a recipient is rejected`(failure: ErrorClass) async throws {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: failure))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .failed)
            #expect(email.attempts.map(\.provider) == ["primary"])
            #expect(email.failureReason == "\(failure.rawValue):sandbox_\(failure.rawValue)")
            #expect(secondary.deliveredCount == 0)
        }
    }

    @Test func `defers with backoff when no provider takes the email`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        secondary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            let start = clock.now
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .deferred)
            let next = try #require(email.nextAttemptAt)
            #expect(next >= start && next <= start.adding(.seconds(30)))
            #expect(email.failureReason == "transient:sandbox_transient")
        }
    }

    @Test func `honours retry-after for the email and the provider`() async throws {
        primary.update(SandboxBehavior(failureRate: 1, retryAfterSeconds: 120))
        secondary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let deferred = try await harness.email(id)
            #expect(try #require(deferred.nextAttemptAt) >= clock.now.adding(.seconds(120)))

            primary.update(SandboxBehavior())
            secondary.update(SandboxBehavior())
            let other = try await harness.accept()[0]
            try await harness.runRounds()
            // The primary asked for two minutes of quiet: the new email goes to the secondary.
            #expect(try await harness.email(other).provider == "secondary")
            clock.advance(by: .seconds(121))
            try await harness.runRounds()
            #expect(try await harness.email(id).provider == "primary")
        }
    }

    @Test func `fails with the reason once the last round is spent`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        secondary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let id = try await harness.accept()[0]
            for _ in 0..<3 {
                try await harness.runRounds()
                clock.advance(by: .seconds(901))
            }
            let email = try await harness.email(id)
            #expect(email.status == .failed)
            #expect(email.failureReason == "max_attempts_reached (last: transient:sandbox_transient)")
            #expect(email.events.filter { $0.kind == .deferred }.count == 2)
        }
    }

    @Test func `skips a provider whose breaker is open and returns to it after a good probe`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let first = try await harness.accept(3)
            try await harness.runRounds()
            #expect(harness.router.statuses(now: clock.now).first?.breakerState == "open")

            let whileOpen = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(whileOpen).attempts.map(\.provider) == ["secondary"])

            primary.update(SandboxBehavior())
            clock.advance(by: .seconds(60))
            let probe = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(probe).provider == "primary")
            #expect(harness.router.statuses(now: clock.now).first?.breakerState == "closed")
            for id in first { #expect(try await harness.email(id).status == .sent) }
        }
    }

    @Test func `explains on each attempt why its provider was chosen`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            let failedOver = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(
                try await harness.email(failedOver).attempts.map(\.routing) == [
                    "priority", "priority; after primary failed (transient)",
                ])
            _ = harness.router.setPaused(true, provider: "primary", now: Date())
            let skipped = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(skipped).attempts.map(\.routing) == ["priority; skipped primary (paused)"])
        }
    }

    @Test func `waits without spending an attempt while no provider may take the email`() async throws {
        try await withHarness { harness in
            for name in ["primary", "secondary"] { _ = harness.router.setPaused(true, provider: name, now: Date()) }
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            var email = try await harness.email(id)
            #expect(email.status == .deferred)
            #expect(email.attempts.isEmpty)
            #expect(email.nextAttemptAt == clock.now.adding(retry.base), "paused providers are looked at again after the base delay")

            for _ in 0..<(retry.maxAttempts + 2) {
                clock.advance(by: retry.base)
                try await harness.runRounds()
            }
            _ = harness.router.setPaused(false, provider: "secondary", now: Date())
            clock.advance(by: retry.base)
            try await harness.runRounds()
            email = try await harness.email(id)
            #expect(email.status == .sent, "rounds without an attempt do not use up max_attempts")
            #expect(email.provider == "secondary")
        }
    }

    @Test func `gives each provider its own options, also after failover`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        try await withHarness { harness in
            var message = EmailMessage.sample()
            message.providerOptions = ["sandbox": ["stream": "all"], "secondary": ["stream": "backup"]]
            try await harness.store.insert(NewEmail(id: EmailID(date: clock.now), message: message, acceptedAt: clock.now))
            try await harness.runRounds()
            #expect(primary.lastOptions == ["stream": "all"])
            #expect(secondary.lastOptions == ["stream": "backup"])
        }
    }

    @Test func `records a timeout as ambiguous and waits instead of failing over`() async throws {
        primary.update(SandboxBehavior(latencyMilliseconds: 5_000))
        try await withHarness(timeout: .milliseconds(50)) { harness in
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .deferred)
            #expect(email.attempts.map(\.errorClass) == [.ambiguous])
            #expect(email.attempts.map(\.errorCode) == ["timeout"])
            #expect(secondary.deliveredCount == 0)
        }
    }

    @Test(arguments: [ErrorClass.transient, .failover, .providerFatal])
    func `counts each attempt, its duration and the failover after a failed one`(failure: ErrorClass) async throws {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: failure))
        try await withHarness { harness in
            _ = try await harness.accept()
            try await harness.runRounds()
            #expect(attempts("primary", "failed", failure.rawValue) == 1)
            #expect(attempts("secondary", "sent", "none") == 1)
            #expect(metrics.counters(label: "herald_attempts_total").count == 2)
            #expect(failovers("primary", "secondary", failure.rawValue) == 1)
            #expect(metrics.counters(label: "herald_failovers_total").count == 1)
            for provider in ["primary", "secondary"] {
                #expect(try metrics.expectTimer("herald_attempt_duration_seconds", [("provider", provider)]).values.count == 1)
            }
        }
    }

    @Test func `counts no failover past the last provider or to a provider its breaker skips`() async throws {
        primary.update(SandboxBehavior(failureRate: 1))
        // A failover-class failure leaves the secondary's breaker closed.
        secondary.update(SandboxBehavior(failureRate: 1, failureClass: .failover))
        try await withHarness { harness in
            // Both fail: one failover per round, none after the last provider. The third round
            // opens the primary's breaker.
            _ = try await harness.accept(3)
            try await harness.runRounds()
            #expect(failovers("primary", "secondary", "transient") == 3)
            #expect(attempts("secondary", "failed", "failover") == 3)

            // The primary is skipped while its breaker is open: the secondary's attempt is the
            // round's first, not a failover.
            secondary.update(SandboxBehavior())
            let skipped = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(skipped).attempts.map(\.provider) == ["secondary"])
            #expect(failovers("primary", "secondary", "transient") == 3)
            #expect(metrics.counters(label: "herald_failovers_total").count == 1)
        }
    }

    @Test func `counts a timeout as an ambiguous attempt and no failover`() async throws {
        primary.update(SandboxBehavior(latencyMilliseconds: 5_000))
        try await withHarness(timeout: .milliseconds(50)) { harness in
            _ = try await harness.accept()
            try await harness.runRounds()
            #expect(attempts("primary", "failed", "ambiguous") == 1)
            #expect(metrics.counters(label: "herald_attempts_total").count == 1)
            #expect(metrics.counters(label: "herald_failovers_total").isEmpty)
        }
    }

    func attempts(_ provider: String, _ outcome: String, _ errorClass: String) -> Int64 {
        metrics.counterTotal(
            label: "herald_attempts_total", dimensions: [("provider", provider), ("outcome", outcome), ("error_class", errorClass)])
    }

    func failovers(_ from: String, _ to: String, _ reason: String) -> Int64 {
        metrics.counterTotal(label: "herald_failovers_total", dimensions: [("from", from), ("to", to), ("reason", reason)])
    }

    @Test func `runs as a service, delivers everything due and stops on graceful shutdown`() async throws {
        try await withHarness(concurrency: 8) { harness in
            let ids = try await harness.accept(40)
            try await harness.runAsService {
                try await harness.waitUntilSent(ids.count)
                _ = try await harness.accept()
                harness.dispatcher.wake()
                try await harness.waitUntilSent(ids.count + 1)
            }
            #expect(primary.deliveredCount == ids.count + 1)
        }
    }

    @Test func `runs its rounds on the task executor it is given`() async throws {
        let executor = CountingTaskExecutor()
        try await withHarness(concurrency: 8, taskExecutor: executor) { harness in
            let ids = try await harness.accept(20)
            try await harness.runAsService { try await harness.waitUntilSent(ids.count) }
            // Each round starts with a job on its executor and resumes there after its writes.
            // Not three per round: a write that completes before its caller suspends needs no
            // job to resume (CI counted 59 for 20 rounds once).
            #expect(executor.jobs >= ids.count * 2)
        }
    }

    @Test func `a round holds progress the store could not write and writes it once the disk has room again`() async throws {
        try await withTemporaryDirectory { directory in
            try await withSmallDisk(megabytes: 8, in: directory) { disk in
                try await withHarness(storeDirectory: disk) { harness in
                    let id = try await harness.accept()[0]
                    let leased = try await harness.store.leaseDueEmails(limit: 1, owner: "test", now: clock.now, duration: .seconds(60))
                    let filler = try fillDisk(in: disk)
                    let space = Task {
                        try await Task.sleep(for: .milliseconds(500))
                        try FileManager.default.removeItem(at: filler)
                    }
                    await harness.dispatcher.deliver(leased[0])
                    try await space.value
                    let email = try await harness.email(id)
                    #expect(email.status == .sent, "the round wrote its progress once there was room")
                    #expect(primary.deliveredCount == 1)
                }
            }
        }
    }

    @Test func `the lease loop goes on after the store fails and delivers once it answers again`() async throws {
        try await withTemporaryDirectory { directory in
            try await withSmallDisk(megabytes: 8, in: directory) { disk in
                try await withHarness(storeDirectory: disk) { harness in
                    let ids = try await harness.accept(5)
                    let filler = try fillDisk(in: disk)
                    // A lease is a write: on a full disk SQLite refuses it, as the loop will see.
                    await #expect(throws: StoreError.self) {
                        try await harness.store.leaseDueEmails(limit: 1, owner: "probe", now: clock.now, duration: .seconds(60))
                    }
                    try await harness.runAsService {
                        try await Task.sleep(for: .milliseconds(500))
                        #expect(try await harness.store.emails(status: .sent, limit: 10, after: nil).isEmpty)
                        try FileManager.default.removeItem(at: filler)
                        try await harness.waitUntilSent(ids.count, timeout: .seconds(10))
                    }
                }
            }
        }
    }

    @Test func `reports when the store last answered a lease`() async throws {
        try await withHarness { harness in
            let ids = try await harness.accept(1)
            let started = ContinuousClock.now
            try await harness.runAsService { try await harness.waitUntilSent(ids.count) }
            let lastLease = try metrics.expectGauge("herald_dispatcher_last_lease_timestamp_seconds")
            #expect(lastLease.lastValue == clock.now.timeIntervalSince1970)
            // A lease answered during the run, not a bound on how long the run took (CI's once took 20 s).
            #expect(harness.dispatcher.timeSinceLastLease <= ContinuousClock.now - started)
        }
    }

    @Test func `leaves suppressed recipients out and says so in the history`() async throws {
        try await withHarness { harness in
            _ = try await harness.store.suppress(
                Suppression(address: "carol@example.com", reason: "asked to stop", source: .api, createdAt: clock.now),
                tenant: APIKey.defaultTenant)
            var message = EmailMessage.sample()
            message.cc = [EmailAddress(address: "Carol@example.com")]
            let id = EmailID(date: clock.now)
            try await harness.store.insert(NewEmail(id: id, message: message, acceptedAt: clock.now))
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .sent)
            #expect(primary.lastRecipients == ["bob@example.com"])
            #expect(email.events.map(\.kind) == [.queued, .suppressed, .attemptStarted, .sent])
            #expect(email.events[1].detail == "Carol@example.com")
        }
    }

    @Test func `ends an email whose every recipient is suppressed without calling a provider`() async throws {
        try await withHarness { harness in
            _ = try await harness.store.suppress(
                Suppression(address: "bob@example.com", reason: "asked to stop", source: .api, createdAt: clock.now),
                tenant: APIKey.defaultTenant)
            let id = try await harness.accept()[0]
            try await harness.runRounds()
            let email = try await harness.email(id)
            #expect(email.status == .suppressed)
            #expect(email.attempts.isEmpty)
            #expect(primary.deliveredCount + secondary.deliveredCount == 0)
        }
    }

    @Test func `suppresses a lone recipient refused for good, so that the next email to it is not sent`() async throws {
        primary.update(SandboxBehavior(failureRate: 1, failureClass: .recipient))
        try await withHarness { harness in
            let first = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(first).status == .failed)
            let entry = try #require(try await harness.store.suppression(of: "bob@example.com", tenant: APIKey.defaultTenant))
            #expect(entry.source == .delivery)
            #expect(entry.emailID == first)

            let second = try await harness.accept()[0]
            try await harness.runRounds()
            #expect(try await harness.email(second).status == .suppressed)
            #expect(try await harness.email(second).attempts.isEmpty)
        }
    }

    @Test func `suppresses only the recipients a provider names, or none when it names none among several`() {
        let message = EmailMessage(
            from: EmailAddress(address: "ada@example.org"),
            to: [EmailAddress(address: "bob@example.com"), EmailAddress(address: "eve@example.net")], subject: "Hi", text: "Hi")
        let email = LeasedEmail(
            id: EmailID(date: clock.now), message: message, acceptedAt: clock.now, queuedAt: clock.now, leaseToken: 1, round: 1,
            attemptsSoFar: 0)
        var round = Round(email: email, policy: .priority)
        let named = ProviderFailure(.recipient, code: "smtp_550_5.1.1", message: "refused", recipients: ["eve@example.net"])
        round.finish(1, provider: "relay", startedAt: clock.now, latency: .zero, failure: named)
        #expect(round.progress(next: .failed(reason: named.reason), at: clock.now).suppressing.map(\.address) == ["eve@example.net"])
        let unnamed = ProviderFailure(.recipient, code: "postmark_406", message: "inactive recipient")
        round.finish(2, provider: "postmark", startedAt: clock.now, latency: .zero, failure: unnamed)
        #expect(round.progress(next: .failed(reason: unnamed.reason), at: clock.now).suppressing.isEmpty)
        round.finish(
            3, provider: "relay", startedAt: clock.now, latency: .zero,
            receipt: ProviderReceipt(
                providerMessageID: nil,
                refusedRecipients: [RefusedRecipient(address: "bob@example.com", failure: named)]))
        #expect(
            round.progress(next: .sent(provider: "relay", providerMessageID: nil), at: clock.now).suppressing.map(\.address) == [
                "bob@example.com"
            ])
    }
}

/// Runs jobs on a queue of its own and counts them.
private final class CountingTaskExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "counting-task-executor")
    private let count = Mutex(0)

    var jobs: Int { count.withLock { $0 } }

    func enqueue(_ job: consuming ExecutorJob) {
        count.withLock { $0 += 1 }
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
