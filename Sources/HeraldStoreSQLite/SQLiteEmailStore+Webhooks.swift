import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit

extension SQLiteEmailStore: WebhookStore {
    public func createWebhookEndpoint(_ endpoint: WebhookEndpoint, sealedSecret: [UInt8]) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO webhook_endpoints (id, tenant, url, event_types, enabled, disabled_reason, secret, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    endpoint.id, endpoint.tenant, endpoint.url, WebhookColumns.types(endpoint.eventTypes), endpoint.enabled,
                    endpoint.disabledReason, Data(sealedSecret), endpoint.createdAt.milliseconds, endpoint.updatedAt.milliseconds,
                ])
        }
    }

    public func webhookEndpoints(tenant: String) async throws -> [WebhookEndpoint] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_endpoints WHERE tenant = ? ORDER BY id", arguments: [tenant])
                .map(Self.endpoint(from:))
        }
    }

    public func webhookEndpoint(id: String, tenant: String) async throws -> WebhookEndpoint? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM webhook_endpoints WHERE id = ? AND tenant = ?", arguments: [id, tenant])
                .map(Self.endpoint(from:))
        }
    }

    public func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws -> Bool {
        try await write { db in
            // Enabling it by hand forgets why it was disabled and since when it failed.
            try db.execute(
                sql: """
                    UPDATE webhook_endpoints SET url = ?, event_types = ?, enabled = ?, disabled_reason = ?, updated_at = ?,
                        failing_since = CASE WHEN ? THEN NULL ELSE failing_since END
                    WHERE id = ? AND tenant = ?
                    """,
                arguments: [
                    endpoint.url, WebhookColumns.types(endpoint.eventTypes), endpoint.enabled, endpoint.disabledReason,
                    endpoint.updatedAt.milliseconds, endpoint.enabled, endpoint.id, endpoint.tenant,
                ])
            return db.changesCount > 0
        }
    }

    public func rotateWebhookSecret(id: String, tenant: String, sealedSecret: [UInt8], previousUntil: Date, now: Date) async throws -> Bool
    {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ?, secret = ?, updated_at = ?
                    WHERE id = ? AND tenant = ?
                    """,
                arguments: [previousUntil.milliseconds, Data(sealedSecret), now.milliseconds, id, tenant])
            return db.changesCount > 0
        }
    }

    public func deleteWebhookEndpoint(id: String, tenant: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM webhook_endpoints WHERE id = ? AND tenant = ?", arguments: [id, tenant])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'", arguments: [id])
            return true
        }
    }

    public func leaseWebhookDeliveries(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [WebhookDelivery] {
        let at = now.milliseconds
        let until = now.adding(duration).milliseconds
        // In the accepts' group commit rather than a transaction of its own: one fsync fewer
        // per lease, which the writer, and the accepts queued behind it, would wait for.
        return try await groupCommit.perform(returning: { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT d.message_id, d.endpoint_id, d.attempts, m.type, m.body, m.created_at, e.url, e.secret,
                            e.previous_secret, e.previous_secret_until, e.failing_since
                        FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
                            JOIN webhook_endpoints e ON e.id = d.endpoint_id
                        WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND e.enabled = 1
                        ORDER BY d.next_attempt_at LIMIT ?
                        """),
                arguments: [at, limit])
            return try rows.compactMap { row -> WebhookDelivery? in
                try db.executeCached(
                    sql: "UPDATE webhook_deliveries SET next_attempt_at = ?, lease_owner = ? WHERE message_id = ? AND endpoint_id = ?",
                    arguments: [until, owner, row["message_id"] as String, row["endpoint_id"] as String])
                return WebhookColumns.delivery(
                    messageID: row["message_id"], endpointID: row["endpoint_id"], attempts: row["attempts"], type: row["type"],
                    body: row["body"] as Data, createdAt: row["created_at"], url: row["url"], secret: row["secret"] as Data,
                    previousSecret: row["previous_secret"] as Data?, previousUntil: row["previous_secret_until"],
                    failingSince: row["failing_since"], now: at)
            }
        })
    }

    public func recordWebhookAttempt(_ attempt: WebhookAttempt) async throws {
        let plan = WebhookColumns.AttemptPlan(attempt)
        try await groupCommit.perform { db in
            try db.executeCached(
                sql: """
                    INSERT INTO webhook_attempts (message_id, endpoint_id, number, at, status_code, latency_ms, response, error, outcome,
                        next_attempt_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (message_id, endpoint_id, number) DO NOTHING
                    """,
                arguments: [
                    attempt.messageID, attempt.endpointID, attempt.number, attempt.at.milliseconds, attempt.statusCode,
                    attempt.latencyMilliseconds, attempt.response, attempt.error, plan.outcome, plan.nextAttemptAt,
                ])
            try db.executeCached(
                sql: """
                    UPDATE webhook_deliveries SET status = ?, attempts = MAX(attempts, ?), next_attempt_at = ?, lease_owner = NULL
                    WHERE message_id = ? AND endpoint_id = ?
                    """,
                arguments: [plan.status, attempt.number, plan.nextAttemptAt, attempt.messageID, attempt.endpointID])
            // Only when it changes something: a success at a healthy endpoint would otherwise
            // rewrite (and on PostgreSQL lock) the endpoint's row once per message.
            try db.executeCached(
                sql: """
                    UPDATE webhook_endpoints SET
                        failing_since = CASE WHEN ?1 THEN NULL ELSE COALESCE(failing_since, ?2) END,
                        enabled = CASE WHEN ?3 IS NULL THEN enabled ELSE 0 END,
                        disabled_reason = COALESCE(?3, disabled_reason), updated_at = CASE WHEN ?3 IS NULL THEN updated_at ELSE ?2 END
                    WHERE id = ?4 AND (?3 IS NOT NULL OR (failing_since IS NULL) <> ?1)
                    """,
                arguments: [plan.answered, attempt.at.milliseconds, plan.disableReason, attempt.endpointID])
        }
    }

    public func postponeWebhookDelivery(messageID: String, endpointID: String, until: Date) async throws {
        try await groupCommit.perform { db in
            try db.executeCached(
                sql: """
                    UPDATE webhook_deliveries SET next_attempt_at = ?, lease_owner = NULL
                    WHERE message_id = ? AND endpoint_id = ? AND status = 'pending'
                    """,
                arguments: [until.milliseconds, messageID, endpointID])
        }
    }

    public func webhookAttempts(endpointID: String, tenant: String, limit: Int, before: Date?) async throws -> [WebhookAttempt] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.* FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
                    WHERE a.endpoint_id = ?1 AND e.tenant = ?2 AND (?3 IS NULL OR a.at < ?3)
                    ORDER BY a.at DESC, a.number DESC LIMIT ?4
                    """,
                arguments: [endpointID, tenant, before?.milliseconds, limit]
            ).map { row in
                WebhookColumns.attempt(
                    messageID: row["message_id"], endpointID: row["endpoint_id"], number: row["number"], at: row["at"],
                    statusCode: row["status_code"], latency: row["latency_ms"], response: row["response"], error: row["error"],
                    outcome: row["outcome"], nextAttemptAt: row["next_attempt_at"])
            }
        }
    }

    public func replayWebhooks(endpointID: String, tenant: String, messageID: String?, from: Date?, to: Date?, now: Date) async throws
        -> Int
    {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?1, lease_owner = NULL
                    WHERE endpoint_id = ?2 AND message_id IN (
                        SELECT id FROM webhook_messages WHERE tenant = ?3 AND (?4 IS NULL OR id = ?4)
                            AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6))
                    """,
                arguments: [now.milliseconds, endpointID, tenant, messageID, from?.milliseconds, to?.milliseconds])
            return db.changesCount
        }
    }

    /// The enabled endpoints of `tenant` with the types each wants (empty for all).
    static func webhookEndpoints(of tenant: String, in db: Database) throws -> [WebhookColumns.Target] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, event_types FROM webhook_endpoints WHERE tenant = ? AND enabled = 1"), arguments: [tenant]
        ).map { WebhookColumns.Target(id: $0["id"], types: WebhookColumns.types($0["event_types"] as String)) }
    }

    /// Writes a webhook message for each of `triggers` (all about one email) that an enabled
    /// endpoint of the email's tenant wants, with a delivery to each such endpoint, in the
    /// caller's transaction. `tenant`, `endpoints` and `message` save the lookups when the
    /// caller has them.
    static func enqueueWebhooks(
        _ triggers: [WebhookTrigger], tenant: String? = nil, endpoints: [WebhookColumns.Target]? = nil, message: EmailMessage? = nil,
        in db: Database
    ) throws {
        guard let emailID = triggers.first?.emailID else { return }
        let emailTenant: String
        let targets: [WebhookColumns.Target]
        if let tenant {
            (emailTenant, targets) = (tenant, try endpoints ?? webhookEndpoints(of: tenant, in: db))
        } else {
            // A delivery round's writes know only the email: its tenant and that tenant's
            // endpoints in one statement, as this runs for every email sent.
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT emails.tenant, e.id, e.event_types FROM emails
                        LEFT JOIN webhook_endpoints e ON e.tenant = emails.tenant AND e.enabled = 1
                        WHERE emails.id = ?
                        """),
                arguments: [emailID.rawValue])
            guard let first = rows.first else { return }
            emailTenant = first[0]
            targets = rows.compactMap { row in
                (row[1] as String?).map { WebhookColumns.Target(id: $0, types: WebhookColumns.types(row[2] as String)) }
            }
        }
        guard !targets.isEmpty else { return }
        var content = message
        for trigger in triggers {
            let wanting = targets.filter { $0.wants(trigger.type) }
            guard !wanting.isEmpty else { continue }
            if content == nil {
                content = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT message, text, html FROM email_contents WHERE email_id = ?"),
                    arguments: [emailID.rawValue]
                ).map { try StoredContent(row: $0).message() }
            }
            let messageID = WebhookColumns.newMessageID(at: trigger.at)
            try db.executeCached(
                sql: "INSERT INTO webhook_messages (id, tenant, type, email_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    messageID, emailTenant, trigger.type.rawValue, emailID.rawValue,
                    Data(trigger.body(tags: content?.tags ?? [], metadata: content?.metadata ?? [:])), trigger.at.milliseconds,
                ])
            for endpoint in wanting {
                try db.executeCached(
                    sql: """
                        INSERT INTO webhook_deliveries (message_id, endpoint_id, status, next_attempt_at) VALUES (?, ?, 'pending', ?)
                        """,
                    arguments: [messageID, endpoint.id, trigger.at.milliseconds])
            }
        }
    }

    private static func endpoint(from row: Row) -> WebhookEndpoint {
        WebhookEndpoint(
            id: row["id"], tenant: row["tenant"], url: row["url"], eventTypes: WebhookColumns.types(row["event_types"] as String),
            enabled: row["enabled"], disabledReason: row["disabled_reason"], createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]))
    }
}
