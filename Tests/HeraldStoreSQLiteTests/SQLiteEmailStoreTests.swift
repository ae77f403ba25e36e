import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit
import HeraldTesting
import Testing

@testable import HeraldStoreSQLite

@Suite("SQLite email store")
struct SQLiteEmailStoreTests {
    let clock = ManualClock()

    @discardableResult
    func withStore<T>(_ body: (SQLiteEmailStore, URL) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: clock.now)
            return try await body(store, directory)
        }
    }

    func accept(_ store: SQLiteEmailStore) async throws -> EmailID {
        let id = EmailID(date: clock.now)
        try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now))
        return id
    }

    func lease(_ store: SQLiteEmailStore, owner: String = "node-a", seconds: Int64 = 60) async throws -> [LeasedEmail] {
        try await store.leaseDueEmails(limit: 10, owner: owner, now: clock.now, duration: .seconds(seconds))
    }

    @Test func `commits with synchronous FULL and keeps its statement journals in memory`() async throws {
        try await withStore { store, _ in
            let settings = try store.writerSettings()
            #expect(settings.synchronous == 2)
            #expect(settings.temporaryStorage == 2)
        }
    }

    /// The writer is held busy while 300 inserts arrive; they are all pending when it is free,
    /// so one batch, one transaction and one fsync take them all.
    @Test func `group-commits the inserts that wait for the writer into one transaction`() async throws {
        try await withStore { store, _ in
            let before = store.groupCommit.transactionCount
            let writerFree = DispatchSemaphore(value: 0)
            store.pool.asyncWriteWithoutTransaction { _ in writerFree.wait() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<300 {
                    group.addTask { _ = try await accept(store) }
                }
                let deadline = ContinuousClock.now + .seconds(30)
                while store.groupCommit.pendingCount < 300 {
                    guard ContinuousClock.now < deadline else {
                        writerFree.signal()
                        throw TestFailure("only \(store.groupCommit.pendingCount) inserts arrived within 30 s")
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                writerFree.signal()
                try await group.waitForAll()
            }
            #expect(store.groupCommit.transactionCount - before == 1)
            #expect(try await store.queueStatistics(now: clock.now).emailsByStatus[.queued] == 300)
        }
    }

    /// Pages start after the last key of the page before: every row once, in key order, also for
    /// a key of two columns whose first repeats across a page's edge.
    @Test func `exports every row once, in key order, page after page`() async throws {
        try await withStore { store, _ in
            var ids: [String] = []
            for _ in 0..<7 {
                ids.append(try await accept(store).rawValue)
                clock.advance(by: .seconds(1))
            }
            var emails: [[StoreValue]] = []
            try await store.exportRows(of: "emails", keyColumns: 1, columns: ["id", "status"], pageSize: 2) { emails += $0 }
            #expect(emails.map { $0[0] } == ids.sorted().map { .text($0) })
            // Every email has the same recipient: each page ends inside one address.
            var recipients: [[StoreValue]] = []
            try await store.exportRows(of: "email_recipients", keyColumns: 2, columns: ["address", "email_id"], pageSize: 3) {
                recipients += $0
            }
            let address = try #require(EmailMessage.sample().recipientKeys.first)
            #expect(recipients == ids.sorted().map { [.text(address), .text($0)] })
        }
    }

    @Test func `hands back a previous process's leases when it opens`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            var id: EmailID
            do {
                let store = try SQLiteEmailStore.open(path: path, now: clock.now)
                id = try await accept(store)
                #expect(try await lease(store, seconds: 3600).count == 1)
            }
            let reopened = try SQLiteEmailStore.open(path: path, now: clock.now)
            #expect(try await lease(reopened).map(\.id) == [id])
        }
    }

    @Test func `moves the content of emails stored before v2 into its own table`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            let id = EmailID(date: clock.now)
            do {
                let v1 = try DatabaseQueue(path: path)
                try SQLiteEmailStore.migrator.migrate(v1, upTo: "v1: emails, attempts, events")
                try await v1.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO emails (id, status, message, created_at, queued_at, updated_at, due_at)
                            VALUES (?, 'queued', ?, 0, 0, 0, 0)
                            """,
                        arguments: [id.rawValue, try JSONEncoder().encode(EmailMessage.sample())])
                }
            }
            let store = try SQLiteEmailStore.open(path: path, now: clock.now)
            #expect(try await store.email(id)?.message == .sample())
            #expect(try await lease(store).map(\.message) == [.sample()])
        }
    }
    @Test func `finds emails stored before v11 by their recipients`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            let id = EmailID(date: clock.now)
            do {
                let v10 = try DatabaseQueue(path: path)
                try SQLiteEmailStore.migrator.migrate(v10, upTo: "v10: webhook endpoints, their outbox and delivery log")
                let content = StoredContent(.sample())
                try await v10.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO emails (id, status, created_at, queued_at, updated_at, due_at, tenant)
                            VALUES (?, 'queued', 0, 0, 0, 0, 'default');
                            INSERT INTO email_contents (email_id, message, text, html) VALUES (?, ?, ?, ?);
                            """,
                        arguments: [id.rawValue, id.rawValue, content.fields, content.text, content.html])
                }
            }
            let store = try SQLiteEmailStore.open(path: path, now: clock.now)
            #expect(try await store.emails(matching: EmailFilter(recipient: "BOB@example.com"), limit: 10, after: nil).map(\.id) == [id])
        }
    }

    @Test func `finds emails stored as JSON before v6 by their tags`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            var sample = EmailMessage.sample()
            sample.tags = ["welcome", "spring"]
            let message = sample
            let (tagged, untagged) = (EmailID(date: clock.now), EmailID(date: clock.now))
            do {
                let v5 = try DatabaseQueue(path: path)
                try SQLiteEmailStore.migrator.migrate(v5, upTo: "v5: suppressions")
                try await v5.write { db in
                    for (id, message) in [(tagged, message), (untagged, EmailMessage.sample())] {
                        try db.execute(
                            sql: """
                                INSERT INTO emails (id, status, created_at, queued_at, updated_at, due_at) VALUES (?, 'queued', 0, 0, 0, 0);
                                INSERT INTO email_contents (email_id, message) VALUES (?, ?);
                                """,
                            arguments: [id.rawValue, id.rawValue, try JSONEncoder().encode(message)])
                    }
                }
            }
            let store = try SQLiteEmailStore.open(path: path, now: clock.now)
            let binary = EmailID(date: clock.now)
            try await store.insert(NewEmail(id: binary, message: message, acceptedAt: clock.now))
            #expect(try await store.email(tagged)?.message == message)
            #expect(try await store.cancel(matching: EmailFilter(tag: "spring"), now: clock.now) == 2)
            #expect(try await store.email(tagged)?.status == .cancelled)
            #expect(try await store.email(binary)?.status == .cancelled)
            #expect(try await store.email(untagged)?.status == .queued)
        }
    }

    @Test func `refuses a second process on the same file`() async throws {
        try await withStore { _, directory in
            #expect(throws: StoreError.self) {
                try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path)
            }
        }
    }

    @Test func `keeps history append-only`() async throws {
        try await withStore { store, _ in
            _ = try await accept(store)
            await #expect(throws: DatabaseError.self) {
                try await store.pool.write { try $0.execute(sql: "UPDATE events SET kind = 'sent'") }
            }
            await #expect(throws: DatabaseError.self) {
                try await store.pool.write { try $0.execute(sql: "DELETE FROM events") }
            }
        }
    }

    @Test func `reads the queue statistics from indexes without scanning the table`() async throws {
        try await withStore { store, _ in
            let plan = try await store.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(SQLiteEmailStore.queueStatisticsSQL)", arguments: [0])
                    .map { $0["detail"] as String }
            }
            #expect(plan.filter { $0.hasPrefix("SEARCH emails USING COVERING INDEX") }.count == 4)
            #expect(!plan.contains { $0.hasPrefix("SCAN emails") }, "\(plan)")
        }
    }
}
