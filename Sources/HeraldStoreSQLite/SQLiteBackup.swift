import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Online backups of a SQLite store, and putting one back.
///
/// A backup is taken beside the server that uses the store: one read transaction of WAL mode
/// sees everything committed when it began while the server goes on writing, and SQLite's
/// backup API copies that snapshot page by page (https://www.sqlite.org/backup.html). The copy
/// is a single file in rollback-journal mode, checked with `PRAGMA integrity_check` before it
/// takes its name, so that a file at the destination is always a whole, sound backup.
public enum SQLiteBackup {
    /// What a backup or a restore refused to do, and why.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// What a backup file holds.
    public struct Summary: Sendable, Equatable {
        public let emails: Int
        public let bytes: Int
    }

    /// Copies the store at `path` into a new file at `destination`, which must not exist.
    public static func backup(databaseAt path: String, to destination: String) throws -> Summary {
        guard FileManager.default.fileExists(atPath: path) else { throw Refusal(description: "there is no database at \(path)") }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw Refusal(description: "\(destination) exists; a backup never overwrites a file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        let source = try DatabasePool(path: path, configuration: configuration)
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            let copy = try DatabaseQueue(path: partial)
            try source.backup(to: copy)
            // The pages carry the source's WAL mode; a backup is one file.
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let summary = try check(copy, path: partial)
            try copy.close()
            try source.close()
            try durablyRename(partial, to: destination)
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Puts the backup at `source` in place of the store at `path`. Refused while a process
    /// holds the store (a server's lock), and over an existing store unless `replacing`. The
    /// backup is checked before anything is touched, and the store's old WAL files go with it:
    /// left beside the restored file, SQLite would replay the old database's pages into it.
    public static func restore(from source: String, toDatabaseAt path: String, replacing: Bool) throws -> Summary {
        guard let lock = FileLock(storeAt: path) else {
            throw Refusal(description: "a Herald process is using \(path); stop it before restoring")
        }
        return try withExtendedLifetime(lock) {
            if FileManager.default.fileExists(atPath: path), !replacing {
                throw Refusal(description: "\(path) exists; give --replace to put the backup in its place")
            }
            var configuration = Configuration()
            configuration.readonly = true
            let backup = try DatabaseQueue(path: source, configuration: configuration)
            let summary = try check(backup, path: source)
            try backup.close()
            let restoring = path + ".restoring"
            try? FileManager.default.removeItem(atPath: restoring)
            try FileManager.default.copyItem(atPath: source, toPath: restoring)
            for leftover in [path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: leftover) {
                try FileManager.default.removeItem(atPath: leftover)
            }
            try durablyRename(restoring, to: path)
            return summary
        }
    }

    /// Whether `database` is a sound Herald store: SQLite's integrity check, and its emails.
    private static func check(_ database: DatabaseQueue, path: String) throws -> Summary {
        try database.read { db in
            let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard problems == ["ok"] else {
                throw Refusal(description: "\(path) fails SQLite's integrity check: \(problems.prefix(3).joined(separator: "; "))")
            }
            guard try db.tableExists("emails") else { throw Refusal(description: "\(path) is not a Herald store") }
            let emails = try Int.fetchOne(db, sql: "SELECT count(*) FROM emails") ?? 0
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return Summary(emails: emails, bytes: pages * pageSize)
        }
    }

    /// Renames `file` to `destination` once its bytes are on disk, and makes the rename durable.
    private static func durablyRename(_ file: String, to destination: String) throws {
        try sync(file)
        guard rename(file, destination) == 0 else {
            throw Refusal(description: "cannot rename \(file) to \(destination): \(String(cString: strerror(errno)))")
        }
        try sync(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
    }

    private static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Refusal(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw Refusal(description: "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
