import Foundation
import GRDB
import HeraldCore
import HeraldTesting
import Synchronization
import Testing

@testable import HeraldStoreSQLite

@Suite("SQLite backup and restore")
struct SQLiteBackupTests {
    let clock = ManualClock()

    /// What the writers share: the ids whose insert returned, and when to stop.
    final class Writers: Sendable {
        let accepted = Mutex<Set<String>>([])
        let stop = Atomic<Bool>(false)
    }

    func ids(in path: String) throws -> Set<String> {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? database.close() }
        return Set(try database.read { db in try String.fetchAll(db, sql: "SELECT id FROM emails") })
    }

    /// Emails go in from eight writers before, while and after the backup runs: it holds every
    /// email whose insert had returned before the backup began, and is a sound single file.
    @Test(.timeLimit(.minutes(2)))
    func `a backup under load holds every email accepted before it began`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            let backupPath = directory.appendingPathComponent("backup.db").path
            let store = try SQLiteEmailStore.open(path: path, now: clock.now)
            let writers = Writers()
            let clock = self.clock
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !writers.stop.load(ordering: .relaxed) {
                            let id = EmailID(date: clock.now)
                            try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: clock.now))
                            writers.accepted.withLock { _ = $0.insert(id.rawValue) }
                        }
                    }
                }
                while writers.accepted.withLock({ $0.count }) < 2_000 { try await Task.sleep(for: .milliseconds(10)) }
                let before = writers.accepted.withLock { $0 }
                let summary = try await Task.detached { try SQLiteBackup.backup(databaseAt: path, to: backupPath) }.value
                // The writers went on beside the backup (which may take only milliseconds).
                while writers.accepted.withLock({ $0.count }) < before.count + 500 { try await Task.sleep(for: .milliseconds(10)) }
                writers.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()

                let copied = try ids(in: backupPath)
                // Counts, not sets: a failure names how many, not thousands of ids.
                #expect(before.subtracting(copied).count == 0, "accepted before the backup began, missing from it")
                #expect(copied.subtracting(writers.accepted.withLock { $0 }).count == 0, "in the backup, never accepted")
                #expect(summary.emails == copied.count)
            }
            let backup = try DatabaseQueue(path: backupPath)
            #expect(try await backup.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } == ["ok"])
            #expect(try await backup.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "delete")
            try backup.close()
            #expect(!FileManager.default.fileExists(atPath: backupPath + "-wal"))
            #expect(!FileManager.default.fileExists(atPath: backupPath + ".partial"))

            #expect(throws: SQLiteBackup.Refusal.self, "never over an existing file") {
                try SQLiteBackup.backup(databaseAt: path, to: backupPath)
            }
            withExtendedLifetime(store) {}
        }
    }

    @Test func `a restore is refused while a server holds the store, and over a store unless replacing`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("herald.db").path
            let backupPath = directory.appendingPathComponent("backup.db").path
            var store: SQLiteEmailStore? = try SQLiteEmailStore.open(path: path, now: clock.now)
            let kept = EmailID(date: clock.now)
            try await store?.insert(NewEmail(id: kept, message: .sample(), acceptedAt: clock.now))
            _ = try SQLiteBackup.backup(databaseAt: path, to: backupPath)
            // Written after the backup: in the store's WAL, and gone once the backup is restored.
            let later = EmailID(date: clock.now)
            try await store?.insert(NewEmail(id: later, message: .sample(), acceptedAt: clock.now))

            #expect(throws: SQLiteBackup.Refusal.self, "a server holds the store") {
                try SQLiteBackup.restore(from: backupPath, toDatabaseAt: path, replacing: true)
            }
            store = nil
            #expect(throws: SQLiteBackup.Refusal.self, "the store exists") {
                try SQLiteBackup.restore(from: backupPath, toDatabaseAt: path, replacing: false)
            }
            let summary = try SQLiteBackup.restore(from: backupPath, toDatabaseAt: path, replacing: true)
            #expect(summary.emails == 1)
            let restored = try SQLiteEmailStore.open(path: path, now: clock.now)
            #expect(try await restored.email(kept, tenant: nil) != nil)
            #expect(try await restored.email(later, tenant: nil) == nil)

            let garbage = directory.appendingPathComponent("garbage.db").path
            try Data("not a database".utf8).write(to: URL(fileURLWithPath: garbage))
            let fresh = directory.appendingPathComponent("fresh.db").path
            #expect(throws: (any Error).self, "only a sound backup is restored") {
                try SQLiteBackup.restore(from: garbage, toDatabaseAt: fresh, replacing: false)
            }
            #expect(!FileManager.default.fileExists(atPath: fresh))
        }
    }
}
