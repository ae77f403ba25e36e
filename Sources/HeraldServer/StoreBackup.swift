import Foundation
import HeraldStoreSQLite

extension HeraldServer {
    /// What `herald backup` wrote.
    public struct BackupResult: Sendable {
        public let emails: Int
        public let bytes: Int
        /// The copy of the store's webhook key beside the backup, when the key is the store's
        /// own file rather than configured: the endpoints' secrets in the backup need it.
        public let webhookKeyCopy: String?
    }

    /// Takes an online backup of the configured SQLite store into a new file at `destination`,
    /// beside the server that may be using it, with the store's own webhook key beside it.
    /// PostgreSQL has its own tools (docs/operations.md).
    public static func backUpStore(_ configuration: HeraldConfiguration, to destination: String) throws -> BackupResult {
        guard configuration.postgres == nil else {
            throw SQLiteBackup.Refusal(
                description: "the store is PostgreSQL: back it up with pg_dump or a base backup (docs/operations.md)")
        }
        let storeKey = WebhookKeys.keyFile(ofDatabase: configuration.sqlitePath)
        let keyCopy = WebhookKeys.keyFile(ofDatabase: destination)
        let copiesKey = configuration.webhooks.key == nil && FileManager.default.fileExists(atPath: storeKey)
        if copiesKey, FileManager.default.fileExists(atPath: keyCopy) {
            throw SQLiteBackup.Refusal(description: "\(keyCopy) exists; a backup never overwrites a file")
        }
        let summary = try SQLiteBackup.backup(databaseAt: configuration.sqlitePath, to: destination)
        if copiesKey { try copyKey(storeKey, to: keyCopy) }
        return BackupResult(emails: summary.emails, bytes: summary.bytes, webhookKeyCopy: copiesKey ? keyCopy : nil)
    }

    /// Puts the SQLite backup at `source` in place of the configured store, with the webhook key
    /// saved beside it if there is one; refused while a server holds the store, and over an
    /// existing one unless `replacing`. Returns how many emails the restored store holds.
    public static func restoreStore(_ configuration: HeraldConfiguration, from source: String, replacing: Bool) throws -> Int {
        guard configuration.postgres == nil else {
            throw SQLiteBackup.Refusal(description: "the store is PostgreSQL: restore it with pg_restore (docs/operations.md)")
        }
        let restored = try SQLiteBackup.restore(from: source, toDatabaseAt: configuration.sqlitePath, replacing: replacing)
        let savedKey = WebhookKeys.keyFile(ofDatabase: source)
        if configuration.webhooks.key == nil, FileManager.default.fileExists(atPath: savedKey) {
            let storeKey = WebhookKeys.keyFile(ofDatabase: configuration.sqlitePath)
            try? FileManager.default.removeItem(atPath: storeKey)
            try copyKey(savedKey, to: storeKey)
        }
        return restored.emails
    }

    /// Copies a key file, readable by its owner only, as WebhookKeys writes one.
    private static func copyKey(_ source: String, to destination: String) throws {
        let key = try Data(contentsOf: URL(fileURLWithPath: source))
        guard FileManager.default.createFile(atPath: destination, contents: key, attributes: [.posixPermissions: 0o600]) else {
            throw SQLiteBackup.Refusal(description: "could not write the webhook key to \(destination)")
        }
    }
}
