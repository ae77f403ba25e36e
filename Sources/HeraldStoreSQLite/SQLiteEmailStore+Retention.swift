import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit

extension SQLiteEmailStore: RetentionStore {
    public func finishedEmails(
        in scope: RetentionScope, from: EmailID?, before: EmailID, withContent: Bool, limit: Int
    ) async throws -> [EmailID] {
        let (scoping, arguments) = Self.scoping(scope)
        // `+status` keeps the status index out: the table itself is in id order (WITHOUT
        // ROWID), and a page reads its range of it up to its last match, while the status
        // index would gather every match of the range to sort them.
        let sql = """
            SELECT id FROM emails
            WHERE id >= ? AND id < ? AND +status IN \(Self.finalStatuses) \(withContent ? "AND content_removed_at IS NULL" : "")
                \(scoping)
            ORDER BY id LIMIT ?
            """
        return try await pool.read { db in
            try String.fetchAll(db, sql: sql, arguments: [from?.rawValue ?? "", before.rawValue] + arguments + [limit])
                .compactMap(EmailID.init)
        }
    }

    public func oldestUnfinishedEmail(in scope: RetentionScope, before: EmailID) async throws -> EmailID? {
        let (scoping, arguments) = Self.scoping(scope)
        return try await pool.read { db in
            // Through the status index: unfinished emails are few, whatever the history holds.
            try String.fetchOne(
                db,
                sql: "SELECT min(id) FROM emails WHERE status IN ('queued', 'sending', 'deferred') AND id < ? \(scoping)",
                arguments: [before.rawValue] + arguments
            ).flatMap(EmailID.init)
        }
    }

    public func removeContent(of ids: [EmailID], now: Date) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let at = now.milliseconds
        return try await write { db in
            try ids.reduce(0) { removed, id in try removed + (Self.removeContent(of: id.rawValue, at: at, in: db) ? 1 : 0) }
        }
    }

    /// Removes the content of the email `id` if it is in a final state and still has it, in
    /// the transaction of `db`: for retention, and when a metadata-only email is recorded sent.
    static func removeContent(of id: String, at: Int64, in db: Database) throws -> Bool {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT message, text, html FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                        WHERE id = ? AND status IN \(finalStatuses) AND content_removed_at IS NULL
                        """),
                arguments: [id])
        else { return false }
        let kept = StoredContent(try StoredContent(row: row).message().removingContent())
        try db.executeCached(
            sql: "UPDATE email_contents SET message = ?, text = NULL, html = NULL WHERE email_id = ?", arguments: [kept.fields, id])
        try db.executeCached(sql: "UPDATE emails SET content_removed_at = ? WHERE id = ?", arguments: [at, id])
        return true
    }

    public func removeEmails(_ ids: [EmailID]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await write { db in
            var removed = 0
            for id in ids.map(\.rawValue) {
                guard
                    let row = try Row.fetchOne(
                        db.cachedStatement(
                            sql: """
                                SELECT message, text, html FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                                WHERE id = ? AND status IN \(Self.finalStatuses)
                                """),
                        arguments: [id])
                else { continue }
                // The recipients' index rows by their key, (address, email): the addresses are
                // in the message, which keeps them whether its content was removed or not.
                for address in try StoredContent(row: row).message().recipientKeys {
                    try db.executeCached(
                        sql: "DELETE FROM email_recipients WHERE address = ? AND email_id = ?", arguments: [address, id])
                }
                // The email first: its history is append-only while it is kept.
                try db.executeCached(sql: "DELETE FROM emails WHERE id = ?", arguments: [id])
                for table in ["email_contents", "attempts", "events", "provider_events", "recipients"] {
                    try db.executeCached(sql: "DELETE FROM \(table) WHERE email_id = ?", arguments: [id])
                }
                removed += 1
            }
            return removed
        }
    }

    public func removeWebhookMessages(in scope: RetentionScope, before: Date, limit: Int) async throws -> Int {
        let (scoping, arguments) = Self.scoping(scope)
        let boundary = WebhookColumns.firstMessageID(at: before)
        return try await write { db in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM webhook_messages
                    WHERE id < ? \(scoping)
                        AND NOT EXISTS (
                            SELECT 1 FROM webhook_deliveries WHERE message_id = webhook_messages.id AND status = 'pending')
                    ORDER BY id LIMIT ?
                    """,
                arguments: [boundary] + arguments + [limit])
            for id in ids {
                for table in ["webhook_attempts", "webhook_deliveries"] {
                    try db.executeCached(sql: "DELETE FROM \(table) WHERE message_id = ?", arguments: [id])
                }
                try db.executeCached(sql: "DELETE FROM webhook_messages WHERE id = ?", arguments: [id])
            }
            return ids.count
        }
    }

    /// Frees at most this many pages a call: about a millisecond of the writer.
    static let pagesReclaimedPerCall = 128

    public func reclaimSpace() async throws {
        try await write { db in
            try db.execute(sql: "PRAGMA incremental_vacuum(\(Self.pagesReclaimedPerCall))")
        }
    }

    static let finalStatuses = "('sent', 'failed', 'cancelled', 'suppressed')"

    /// The condition, beginning with `AND`, that keeps a query to `scope`'s tenants.
    private static func scoping(_ scope: RetentionScope) -> (String, StatementArguments) {
        switch scope {
        case .tenant(let tenant):
            return ("AND tenant = ?", [tenant])
        case .allTenants(let but) where but.isEmpty:
            return ("", [])
        case .allTenants(let but):
            return ("AND tenant NOT IN (\(databaseQuestionMarks(count: but.count)))", StatementArguments(but.sorted()))
        }
    }
}
