import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import NIOCore
import PostgresNIO

extension PostgresEmailStore: RetentionStore {
    public func finishedEmails(
        in scope: RetentionScope, from: EmailID?, before: EmailID, withContent: Bool, limit: Int
    ) async throws -> [EmailID] {
        let (only, excluded) = Self.tenants(of: scope)
        let rows = try await query(
            """
            SELECT id FROM emails
            WHERE id >= \(from?.rawValue ?? "") AND id < \(before.rawValue)
                AND status IN ('sent', 'failed', 'cancelled', 'suppressed')
                AND (NOT \(withContent) OR content_removed_at IS NULL)
                AND (\(only)::text IS NULL OR tenant = \(only)) AND tenant <> ALL(\(excluded)::text[])
            ORDER BY id LIMIT \(limit)
            """)
        return try rows.decode(String.self).compactMap(EmailID.init)
    }

    public func oldestUnfinishedEmail(in scope: RetentionScope, before: EmailID) async throws -> EmailID? {
        let (only, excluded) = Self.tenants(of: scope)
        let rows = try await query(
            """
            SELECT min(id) FROM emails
            WHERE status IN ('queued', 'sending', 'deferred') AND id < \(before.rawValue)
                AND (\(only)::text IS NULL OR tenant = \(only)) AND tenant <> ALL(\(excluded)::text[])
            """)
        return try rows.first?.decode(String?.self).flatMap(EmailID.init)
    }

    public func removeContent(of ids: [EmailID], now: Date) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let at = now.milliseconds
        return try await transaction { [logger] connection in
            try await Self.removeContent(
                of: ids.map(\.rawValue), at: Array(repeating: at, count: ids.count), on: connection, logger: logger)
        }
    }

    /// Removes the content of those of `ids` that are in a final state and still have it, each
    /// noted as removed at its time in `at`, in the transaction on `connection`: for retention,
    /// and when metadata-only emails are recorded sent. Returns how many.
    static func removeContent(of ids: [String], at: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        // Locked as they are read: a retry between the read and the write would otherwise
        // queue an email whose content is on its way out.
        let rows = try await connection.query(
            """
            SELECT emails.id, message, text, html FROM emails JOIN email_contents ON email_contents.email_id = emails.id
            WHERE emails.id = ANY(\(ids)) AND status IN ('sent', 'failed', 'cancelled', 'suppressed')
                AND content_removed_at IS NULL
            ORDER BY emails.id FOR UPDATE OF emails
            """,
            logger: logger)
        var kept = (ids: [String](), fields: [ByteBuffer]())
        for try await (id, fields, text, html) in rows.decode((String, Data, String?, String?).self) {
            let message = try StoredContent(fields: fields, text: text, html: html).message().removingContent()
            kept.ids.append(id)
            kept.fields.append(ByteBuffer(bytes: StoredContent(message).fields))
        }
        guard !kept.ids.isEmpty else { return 0 }
        try await connection.execute(
            """
            UPDATE email_contents SET message = kept.fields, text = NULL, html = NULL
            FROM unnest(\(kept.ids)::text[], \(kept.fields)::bytea[]) AS kept (id, fields)
            WHERE email_contents.email_id = kept.id
            """,
            logger: logger)
        try await connection.execute(
            """
            UPDATE emails SET content_removed_at = removal.at
            FROM unnest(\(ids)::text[], \(at)::bigint[]) AS removal (id, at)
            WHERE emails.id = removal.id AND emails.id = ANY(\(kept.ids))
            """,
            logger: logger)
        return kept.ids.count
    }

    public func removeEmails(_ ids: [EmailID]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await transaction { [self] connection in
            let rows = try await connection.query(
                """
                SELECT emails.id, message FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                WHERE emails.id = ANY(\(ids.map(\.rawValue))) AND status IN ('sent', 'failed', 'cancelled', 'suppressed')
                ORDER BY emails.id FOR UPDATE OF emails
                """,
                logger: logger)
            var removed: [String] = []
            var recipients: (addresses: [String], emailIDs: [String]) = ([], [])
            for try await (id, fields) in rows.decode((String, Data).self) {
                removed.append(id)
                // The recipients' index rows by their key, (address, email): the addresses are
                // in the message, which keeps them whether its content was removed or not.
                for address in try StoredContent(fields: fields, text: nil, html: nil).message().recipientKeys {
                    recipients.addresses.append(address)
                    recipients.emailIDs.append(id)
                }
            }
            guard !removed.isEmpty else { return 0 }
            try await connection.execute(
                """
                DELETE FROM email_recipients USING unnest(\(recipients.addresses)::text[], \(recipients.emailIDs)::text[])
                    AS removed (address, email_id)
                WHERE email_recipients.address = removed.address AND email_recipients.email_id = removed.email_id
                """,
                logger: logger)
            // The content (which refers to the email) first, then the email, then its history,
            // which is append-only while the email is kept.
            try await connection.execute("DELETE FROM email_contents WHERE email_id = ANY(\(removed))", logger: logger)
            try await connection.execute("DELETE FROM emails WHERE id = ANY(\(removed))", logger: logger)
            for table in ["attempts", "events", "provider_events", "recipients"] {
                try await connection.execute("DELETE FROM \(unescaped: table) WHERE email_id = ANY(\(removed))", logger: logger)
            }
            return removed.count
        }
    }

    public func removeWebhookMessages(in scope: RetentionScope, before: Date, limit: Int) async throws -> Int {
        let (only, excluded) = Self.tenants(of: scope)
        return try await transaction { [self] connection in
            let rows = try await connection.query(
                """
                SELECT id FROM webhook_messages
                WHERE id < \(WebhookColumns.firstMessageID(at: before))
                    AND (\(only)::text IS NULL OR tenant = \(only)) AND tenant <> ALL(\(excluded)::text[])
                    AND NOT EXISTS (
                        SELECT 1 FROM webhook_deliveries WHERE message_id = webhook_messages.id AND status = 'pending')
                ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """,
                logger: logger)
            let ids = try await rows.collect().map { try $0.decode(String.self) }
            guard !ids.isEmpty else { return 0 }
            for table in ["webhook_attempts", "webhook_deliveries"] {
                try await connection.execute("DELETE FROM \(unescaped: table) WHERE message_id = ANY(\(ids))", logger: logger)
            }
            try await connection.execute("DELETE FROM webhook_messages WHERE id = ANY(\(ids))", logger: logger)
            return ids.count
        }
    }

    /// Nothing to do: autovacuum makes the space of deleted rows reusable, and gives back what
    /// it can at the end of each table, without a lock that would stop writes.
    public func reclaimSpace() async throws {}

    /// A scope as two parameters: the one tenant, or the tenants to leave out.
    private static func tenants(of scope: RetentionScope) -> (only: String?, excluded: [String]) {
        switch scope {
        case .tenant(let tenant): (tenant, [])
        case .allTenants(let but): (nil, but.sorted())
        }
    }
}
