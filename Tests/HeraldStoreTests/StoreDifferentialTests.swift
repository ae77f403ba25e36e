import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// Drives SQLite and PostgreSQL through the same random sequences of accepts, leases, delivery
/// outcomes, retries, cancels, suppressions and lease expiries, and compares what each
/// operation answered and everything the API can read afterwards: the two stores must be
/// indistinguishable.
@Suite(.timeLimit(.minutes(5)))
struct StoreDifferentialTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func `SQLite and PostgreSQL answer and keep the same under the same operations`(seed: UInt64) async throws {
        try await StoreKind.sqlite.withStore(now: DifferentialRun.start) { sqlite in
            try await StoreKind.postgres.withStore { postgres in
                var run = DifferentialRun(seed: seed, stores: [sqlite, postgres])
                for step in 0..<400 {
                    try await run.step()
                    if step % 40 == 39 { try await run.compareEverything() }
                }
                try await run.compareEverything()
                #expect(run.operations.count > 5, "operations: \(run.operations)")
            }
        }
    }
}

/// SplitMix64: the same numbers for the same seed on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What an operation answered, comparable across stores: its value or its error's code.
enum Answer<Value: Equatable>: Equatable {
    case value(Value)
    case failed(String)

    init(_ body: () async throws -> Value) async {
        do {
            self = .value(try await body())
        } catch let error as StoreError {
            self = .failed(error.code.rawValue)
        } catch {
            self = .failed("\(type(of: error))")
        }
    }
}

struct DifferentialRun {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let tenants = ["acme", "globex"]
    static let addresses = ["a@example.com", "b@example.com", "c@example.net", "d@example.net"]
    static let providers = ["ses", "smtp"]

    /// An email a node holds, with the attempt it has started, if any.
    struct Held {
        let lease: LeasedEmail
        var nextAttempt: Int
        var attemptStarted: (number: Int, provider: String)?
    }

    var random: SeededGenerator
    let stores: [any HeraldStore]
    var now = start
    var ids: [EmailID] = []
    var held: [EmailID: Held] = [:]
    /// How many of each operation ran, for the test's own check that it exercised them.
    var operations: [String: Int] = [:]

    init(seed: UInt64, stores: [any HeraldStore]) {
        self.random = SeededGenerator(state: seed)
        self.stores = stores
    }

    /// Runs `body` on every store and expects the same answer from each.
    func onBoth<Value: Equatable & Sendable>(
        _ what: String, _ body: @escaping @Sendable (any HeraldStore) async throws -> Value
    ) async -> Answer<Value> {
        var answers: [Answer<Value>] = []
        for store in stores { answers.append(await Answer { try await body(store) }) }
        #expect(answers[0] == answers[1], "\(what): SQLite \(answers[0]), PostgreSQL \(answers[1])")
        return answers[0]
    }

    mutating func step() async throws {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<28: await accept()
        case 28..<46: await lease()
        case 46..<80: await progress()
        case 80..<86: await retryOrCancel()
        case 86..<94: advance()
        case 94..<97: await suppress()
        default: await releaseLeases()
        }
    }

    mutating func accept() async {
        operations["accept", default: 0] += 1
        now = now.addingTimeInterval(0.001 * Double(Int.random(in: 1...900, using: &random)))
        var message = EmailMessage.sample(subject: "Run \(ids.count)")
        message.to = Self.addresses.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random))
            .map { EmailAddress(address: $0) }
        message.tags = ["alpha", "beta"].filter { _ in Bool.random(using: &random) }
        message.metadata = Bool.random(using: &random) ? ["order": "\(ids.count)"] : [:]
        let sendAt =
            Int.random(in: 0..<10, using: &random) == 0 ? now.addingTimeInterval(Double(Int.random(in: 1...120, using: &random))) : nil
        let email = NewEmail(
            id: EmailID(date: now), message: message, acceptedAt: now, sendAt: sendAt,
            tenant: Self.tenants.randomElement(using: &random)!)
        ids.append(email.id)
        _ = await onBoth("accept \(email.id)") { store -> Bool in
            try await store.insert(email); return true
        }
    }

    mutating func lease() async {
        operations["lease", default: 0] += 1
        // Every due email: which of several due at the same time a smaller lease takes is up to
        // each store (leases that ran out together are due together).
        let limit = 100
        let owner = Bool.random(using: &random) ? "node-a" : "node-b"
        let at = now
        var leasedBy: [[LeasedEmail]] = []
        for store in stores {
            do {
                let emails = try await store.leaseDueEmails(limit: limit, owner: owner, now: at, duration: .seconds(60))
                leasedBy.append(emails.sorted { $0.id.rawValue < $1.id.rawValue })
            } catch {
                Issue.record("lease failed: \(error)")
                return
            }
        }
        let described = leasedBy.map { $0.map(Self.describe) }
        #expect(described[0] == described[1], "lease: SQLite \(described[0]), PostgreSQL \(described[1])")
        for lease in leasedBy[0] { held[lease.id] = Held(lease: lease, nextAttempt: lease.attemptsSoFar + 1) }
    }

    static func describe(_ lease: LeasedEmail) -> String {
        "\(lease.id) token \(lease.leaseToken) round \(lease.round) attempts \(lease.attemptsSoFar) "
            + "suppressed \(lease.suppressedRecipients.sorted()) accepted \(lease.acceptedAt.milliseconds) "
            + "queued \(lease.queuedAt.milliseconds) to \(lease.message.to.map(\.address)) tags \(lease.message.tags)"
    }

    mutating func progress() async {
        guard let id = held.keys.sorted(by: { $0.rawValue < $1.rawValue }).randomElement(using: &random), var email = held[id]
        else { return }
        operations["progress", default: 0] += 1
        now = now.addingTimeInterval(0.001 * Double(Int.random(in: 1...500, using: &random)))
        let suppressed = email.lease.suppressedRecipients.sorted()
        let progress: DeliveryProgress
        if let started = email.attemptStarted {
            let finished: Attempt
            let next: DeliveryProgress.Next
            var refused: [RefusedRecipient] = []
            switch Int.random(in: 0..<6, using: &random) {
            case 0, 1:
                finished = attempt(started, outcome: .sent, failure: nil)
                next = .sent(provider: started.provider, providerMessageID: "pm-\(id)-\(started.number)")
            case 2:
                let failure = ProviderFailure(.transient, code: "throttled", message: "slow down")
                finished = attempt(started, outcome: .failed, failure: failure)
                next = .deferred(until: now.addingTimeInterval(Double(Int.random(in: 5...90, using: &random))), reason: failure.reason)
            case 3:
                let failure = ProviderFailure(.recipient, code: "smtp_550", message: "no such user")
                finished = attempt(started, outcome: .failed, failure: failure)
                refused = [RefusedRecipient(address: email.lease.message.to[0].address, failure: failure)]
                next = .failed(reason: failure.reason)
            case 4:
                let failure = ProviderFailure(.transient, code: "timeout", message: "no answer")
                finished = attempt(started, outcome: .failed, failure: failure)
                let provider = Self.providers.first { $0 != started.provider }!
                next = .attempt(number: email.nextAttempt, provider: provider)
            default:
                let failure = ProviderFailure(.permanent, code: "rejected", message: "content")
                finished = attempt(started, outcome: .failed, failure: failure)
                next = .failed(reason: failure.reason)
            }
            progress = DeliveryProgress(
                emailID: id, leaseToken: email.lease.leaseToken, finishedAttempt: finished, next: next, at: now, suppressing: refused)
        } else {
            let next: DeliveryProgress.Next =
                switch Int.random(in: 0..<8, using: &random) {
                case 0: .waiting(until: now.addingTimeInterval(10), reason: "every provider paused")
                case 1 where suppressed.count == email.lease.message.to.count: .suppressed
                default: .attempt(number: email.nextAttempt, provider: Self.providers.randomElement(using: &random)!)
                }
            progress = DeliveryProgress(
                emailID: id, leaseToken: email.lease.leaseToken, finishedAttempt: nil, next: next, at: now,
                suppressedRecipients: suppressed)
        }
        let answer = await onBoth("record \(progress.next) of \(id)") { store -> Bool in
            try await store.record(progress); return true
        }
        guard answer == .value(true), case .attempt(let number, let provider) = progress.next else {
            held[id] = nil
            return
        }
        email.attemptStarted = (number, provider)
        email.nextAttempt = number + 1
        held[id] = email
    }

    func attempt(_ started: (number: Int, provider: String), outcome: Attempt.Outcome, failure: ProviderFailure?) -> Attempt {
        Attempt(
            number: started.number, provider: started.provider, startedAt: now.addingTimeInterval(-0.05), latencyMilliseconds: 50,
            outcome: outcome, errorClass: failure?.errorClass, errorCode: failure?.code, message: failure?.message,
            routing: "priority")
    }

    mutating func retryOrCancel() async {
        guard let id = ids.randomElement(using: &random) else { return }
        let at = now
        if Bool.random(using: &random) {
            operations["retry", default: 0] += 1
            _ = await onBoth("retry \(id)") { store -> Bool in
                try await store.retry(id, tenant: nil, now: at); return true
            }
        } else {
            operations["cancel", default: 0] += 1
            _ = await onBoth("cancel \(id)") { store -> Bool in
                try await store.cancel(id, tenant: nil, now: at); return true
            }
        }
    }

    /// Time passes: sometimes past the leases, which then run out while their rounds go on.
    mutating func advance() {
        operations["advance", default: 0] += 1
        now = now.addingTimeInterval(Double(Int.random(in: 1...90, using: &random)))
    }

    mutating func suppress() async {
        operations["suppress", default: 0] += 1
        let address = Self.addresses.randomElement(using: &random)!
        let tenant = Self.tenants.randomElement(using: &random)!
        let suppression = Suppression(address: address, reason: "complained", source: .api, createdAt: now)
        _ = await onBoth("suppress \(address)") { try await $0.suppress(suppression, tenant: tenant).created }
    }

    mutating func releaseLeases() async {
        operations["release", default: 0] += 1
        let owner = Bool.random(using: &random) ? "node-a" : "node-b"
        let kept = Set(held.keys)
        let at = now
        _ = await onBoth("release \(owner)") { store -> Bool in
            try await store.releaseLeases(owner: owner, except: kept, now: at)
            return true
        }
    }

    /// Everything the API reads, from both stores.
    func compareEverything() async throws {
        for id in ids {
            _ = await onBoth("email \(id)") { try await $0.email(id, tenant: nil) }
        }
        let at = now
        for tenant in Self.tenants {
            _ = await onBoth("list of \(tenant)") { try await $0.emails(matching: EmailFilter(tenant: tenant), limit: 500, after: nil) }
            _ = await onBoth("suppressions of \(tenant)") { try await $0.suppressions(tenant: tenant, limit: 100, after: nil) }
            for status in EmailStatus.allCases {
                _ = await onBoth("count of \(tenant) \(status)") { try await $0.count(matching: EmailFilter(tenant: tenant), in: [status]) }
            }
        }
        _ = await onBoth("tag alpha") { try await $0.emails(matching: EmailFilter(tag: "alpha"), limit: 500, after: nil) }
        _ = await onBoth("sent through ses") { try await $0.emails(matching: EmailFilter(provider: "ses"), limit: 500, after: nil) }
        _ = await onBoth("queue") { try await $0.queueStatistics(now: at) }
        _ = await onBoth("send counts") { try await $0.sendCounts(at: at) }
        _ = await onBoth("activity") { try await $0.activity(since: Self.start) }
    }
}
