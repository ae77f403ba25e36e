import Foundation
import HeraldArchive
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Logging
import Testing

@testable import HeraldServer

/// The retention purge against a real SQLite store, on a clock moved by hand.
@Suite("Retention purge", .timeLimit(.minutes(1)))
struct RetentionPurgeTests {
    let clock = ManualClock()
    static let day: Duration = .seconds(86_400)

    func policy() -> RetentionPolicy {
        var policy = RetentionPolicy()
        policy.defaultRule = RetentionRule(contentAge: Self.day, emailAge: Self.day * 3)
        policy.tenantRules = ["archive": RetentionRule(emailAge: Self.day * 10), "brief": RetentionRule(emailAge: Self.day)]
        return policy
    }

    /// Accepts an email of `tenant` and cancels it (a final state), or leaves it queued for a
    /// week, scheduled, with `finished` false.
    func email(_ store: SQLiteEmailStore, tenant: String, finished: Bool = true) async throws -> EmailID {
        clock.advance(by: .milliseconds(1))
        let id = EmailID(date: clock.now)
        let sendAt = finished ? nil : clock.now.adding(Self.day * 7)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now, sendAt: sendAt, tenant: tenant))
        if finished { try await store.cancel(id, now: clock.now) }
        return id
    }

    @Test func `removes content and emails as each tenant's rule says, and never an unfinished email`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            let purge = RetentionPurge(store: store, policy: policy(), clock: clock, logger: Logger(label: "test"))
            let acme = try await email(store, tenant: "acme")
            let unfinished = try await email(store, tenant: "acme", finished: false)
            let archived = try await email(store, tenant: "archive")
            let brief = try await email(store, tenant: "brief")

            #expect(await purge.pass() == .init())
            clock.advance(by: Self.day + .seconds(1))
            #expect(await purge.pass() == .init(contents: 1, emails: 1))
            #expect(try await store.email(acme)?.contentRemovedAt != nil)
            #expect(try await store.email(brief) == nil)
            #expect(try await store.email(unfinished)?.contentRemovedAt == nil)
            #expect(try await store.email(archived)?.contentRemovedAt == nil, "its rule keeps content as long as the email")

            clock.advance(by: Self.day * 2)
            #expect(await purge.pass() == .init(emails: 1))
            #expect(try await store.email(acme) == nil)
            #expect(try await store.email(unfinished)?.status == .queued, "however old, an unfinished email stays")

            // It finishes later, long after the others: the next pass still finds it.
            try await store.cancel(unfinished, now: clock.now)
            #expect(await purge.pass() == .init(emails: 1))
            #expect(try await store.email(unfinished) == nil)

            clock.advance(by: Self.day * 7)
            #expect(await purge.pass() == .init(emails: 1))
            #expect(try await store.email(archived) == nil)
            #expect(await purge.pass() == .init())
        }
    }

    @Test func `archives each tenant's day to a file of its own, checks it, and only then removes the emails`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            var policy = RetentionPolicy()
            policy.defaultRule = RetentionRule(emailAge: Self.day)
            policy.archiveDirectory = directory.appendingPathComponent("archive").path
            let purge = RetentionPurge(store: store, policy: policy, clock: clock, logger: Logger(label: "test"))
            var first: [EmailID] = []
            for index in 0..<(RetentionPurge.emailsPerBatch + 3) {
                first.append(try await email(store, tenant: index.isMultiple(of: 3) ? "globex" : "acme"))
            }
            clock.advance(by: Self.day)
            let second = [try await email(store, tenant: "acme"), try await email(store, tenant: "acme")]
            let unfinished = try await email(store, tenant: "acme", finished: false)
            clock.advance(by: Self.day + .seconds(1))
            #expect(await purge.pass() == .init(emails: first.count + second.count))
            #expect(try await store.email(unfinished)?.status == .queued)

            let archive = directory.appendingPathComponent("archive")
            var archived: [EmailID] = []
            for tenant in ["acme", "globex"] {
                for file in try FileManager.default.contentsOfDirectory(atPath: archive.appendingPathComponent(tenant).path)
                where file.hasSuffix(".jsonl.gz") {
                    let check = try ArchiveCheck.verify(archive.appendingPathComponent("\(tenant)/\(file)").path)
                    #expect(check.manifest.tenant == tenant)
                    archived += check.ids
                }
            }
            #expect(Set(archived) == Set(first + second))
            #expect(archived.count == first.count + second.count, "each email once")
            let days = try FileManager.default.contentsOfDirectory(atPath: archive.appendingPathComponent("acme").path).sorted()
            #expect(days.count == 4, "two days, each a file and its manifest: \(days)")
        }
    }

    /// An archive that cannot be written keeps every email in the store.
    @Test func `removes nothing whose archive could not be written`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            var policy = RetentionPolicy()
            policy.defaultRule = RetentionRule(emailAge: Self.day)
            let archive = directory.appendingPathComponent("archive")
            policy.archiveDirectory = archive.path
            try FileManager.default.createDirectory(at: archive, withIntermediateDirectories: true)
            // Where the tenant's directory would go, a file: the archive cannot be made.
            try Data().write(to: archive.appendingPathComponent("acme"))
            let purge = RetentionPurge(store: store, policy: policy, clock: clock, logger: Logger(label: "test"))
            let ids = [try await email(store, tenant: "acme"), try await email(store, tenant: "acme")]
            clock.advance(by: Self.day + .seconds(1))
            #expect(await purge.pass() == .init())
            for id in ids { #expect(try await store.email(id)?.status == .cancelled) }

            try FileManager.default.removeItem(at: archive.appendingPathComponent("acme"))
            #expect(await purge.pass() == .init(emails: 2), "the next pass, once the archive can be written")
        }
    }

    @Test func `works through many emails a batch at a time, and resumes where it left off`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            let purge = RetentionPurge(store: store, policy: policy(), clock: clock, logger: Logger(label: "test"))
            let count = 3 * RetentionPurge.emailsPerBatch + 7
            for _ in 0..<count { _ = try await email(store, tenant: "acme") }
            for _ in 0..<10 { _ = try await email(store, tenant: "archive") }
            clock.advance(by: Self.day + .seconds(1))
            #expect(await purge.pass() == .init(contents: count))
            for _ in 0..<5 { _ = try await email(store, tenant: "acme") }
            clock.advance(by: Self.day + .seconds(1))
            #expect(await purge.pass() == .init(contents: 5), "only the new ones")
            clock.advance(by: Self.day * 2)
            #expect(await purge.pass() == .init(contents: 0, emails: count + 5))
            #expect(try await store.emails(matching: EmailFilter(tenant: "acme"), limit: 10, after: nil).isEmpty)
            #expect(try await store.emails(matching: EmailFilter(tenant: "archive"), limit: 100, after: nil).count == 10)
        }
    }
}
