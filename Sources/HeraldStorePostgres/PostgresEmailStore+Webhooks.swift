import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore: WebhookStore {
    public func createWebhookEndpoint(_ endpoint: WebhookEndpoint, sealedSecret: [UInt8]) async throws {
        try await committed(
            """
            INSERT INTO webhook_endpoints (id, tenant, url, event_types, enabled, disabled_reason, secret, created_at, updated_at)
            VALUES (\(endpoint.id), \(endpoint.tenant), \(endpoint.url), \(WebhookColumns.types(endpoint.eventTypes)), \(endpoint.enabled),
                \(endpoint.disabledReason), \(ByteBuffer(bytes: sealedSecret)), \(endpoint.createdAt.milliseconds),
                \(endpoint.updatedAt.milliseconds))
            """)
    }

    public func webhookEndpoints(tenant: String) async throws -> [WebhookEndpoint] {
        try await query("\(unescaped: Self.endpointColumns) WHERE tenant = \(tenant) ORDER BY id").decode(EndpointRow.self)
            .map(Self.endpoint(from:))
    }

    public func webhookEndpoint(id: String, tenant: String) async throws -> WebhookEndpoint? {
        try await query("\(unescaped: Self.endpointColumns) WHERE id = \(id) AND tenant = \(tenant)").decode(EndpointRow.self)
            .map(Self.endpoint(from:)).first
    }

    public func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws -> Bool {
        // Enabling it by hand forgets since when it failed.
        try await !committed(
            """
            UPDATE webhook_endpoints SET url = \(endpoint.url), event_types = \(WebhookColumns.types(endpoint.eventTypes)),
                enabled = \(endpoint.enabled), disabled_reason = \(endpoint.disabledReason), updated_at = \(endpoint.updatedAt.milliseconds),
                failing_since = CASE WHEN \(endpoint.enabled) THEN NULL ELSE failing_since END
            WHERE id = \(endpoint.id) AND tenant = \(endpoint.tenant) RETURNING id
            """
        ).isEmpty
    }

    public func rotateWebhookSecret(id: String, tenant: String, sealedSecret: [UInt8], previousUntil: Date, now: Date) async throws -> Bool
    {
        try await !committed(
            """
            UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = \(previousUntil.milliseconds),
                secret = \(ByteBuffer(bytes: sealedSecret)), updated_at = \(now.milliseconds)
            WHERE id = \(id) AND tenant = \(tenant) RETURNING id
            """
        ).isEmpty
    }

    public func deleteWebhookEndpoint(id: String, tenant: String) async throws -> Bool {
        try await transaction { [logger] connection in
            let deleted = try await connection.query(
                "DELETE FROM webhook_endpoints WHERE id = \(id) AND tenant = \(tenant) RETURNING id", logger: logger
            ).collect()
            guard !deleted.isEmpty else { return false }
            try await connection.execute(
                "DELETE FROM webhook_deliveries WHERE endpoint_id = \(id) AND status = 'pending'", logger: logger)
            return true
        }
    }

    /// Rows another node holds (`FOR UPDATE SKIP LOCKED`) are passed over, so that nodes
    /// leasing at once take different deliveries.
    public func leaseWebhookDeliveries(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [WebhookDelivery] {
        let at = now.milliseconds
        let until = now.adding(duration).milliseconds
        let rows = try await query(
            """
            WITH due AS (
                SELECT d.message_id, d.endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= \(at) AND e.enabled
                ORDER BY d.next_attempt_at LIMIT \(limit) FOR UPDATE OF d SKIP LOCKED
            ), leased AS (
                UPDATE webhook_deliveries d SET next_attempt_at = \(until), lease_owner = \(owner)
                FROM due WHERE d.message_id = due.message_id AND d.endpoint_id = due.endpoint_id
                RETURNING d.message_id, d.endpoint_id, d.attempts
            )
            SELECT leased.message_id, leased.endpoint_id, leased.attempts, m.type, m.body, m.created_at, e.url, e.secret,
                e.previous_secret, e.previous_secret_until, e.failing_since
            FROM leased JOIN webhook_messages m ON m.id = leased.message_id JOIN webhook_endpoints e ON e.id = leased.endpoint_id
            """)
        typealias Row = (String, String, Int, String, ByteBuffer, Int64, String, ByteBuffer, ByteBuffer?, Int64?, Int64?)
        return try rows.decode(Row.self).compactMap { row in
            WebhookColumns.delivery(
                messageID: row.0, endpointID: row.1, attempts: row.2, type: row.3, body: Data(row.4.readableBytesView), createdAt: row.5,
                url: row.6, secret: Data(row.7.readableBytesView), previousSecret: row.8.map { Data($0.readableBytesView) },
                previousUntil: row.9, failingSince: row.10, now: at)
        }
    }

    public func recordWebhookAttempt(_ attempt: WebhookAttempt) async throws {
        let plan = WebhookColumns.AttemptPlan(attempt)
        let at = attempt.at.milliseconds
        try await transaction { [logger] connection in
            try await connection.execute(
                """
                INSERT INTO webhook_attempts (message_id, endpoint_id, number, at, status_code, latency_ms, response, error, outcome,
                    next_attempt_at)
                VALUES (\(attempt.messageID), \(attempt.endpointID), \(attempt.number), \(at), \(attempt.statusCode),
                    \(attempt.latencyMilliseconds), \(attempt.response), \(attempt.error), \(plan.outcome), \(plan.nextAttemptAt))
                ON CONFLICT (message_id, endpoint_id, number) DO NOTHING
                """,
                logger: logger)
            try await connection.execute(
                """
                UPDATE webhook_deliveries SET status = \(plan.status), attempts = GREATEST(attempts, \(attempt.number)),
                    next_attempt_at = \(plan.nextAttemptAt), lease_owner = NULL
                WHERE message_id = \(attempt.messageID) AND endpoint_id = \(attempt.endpointID)
                """,
                logger: logger)
            // Only when it changes something: a success at a healthy endpoint would otherwise
            // rewrite (and on PostgreSQL lock) the endpoint's row once per message.
            try await connection.execute(
                """
                UPDATE webhook_endpoints SET
                    failing_since = CASE WHEN \(plan.answered) THEN NULL ELSE COALESCE(failing_since, \(at)) END,
                    enabled = CASE WHEN \(plan.disableReason)::text IS NULL THEN enabled ELSE false END,
                    disabled_reason = COALESCE(\(plan.disableReason), disabled_reason),
                    updated_at = CASE WHEN \(plan.disableReason)::text IS NULL THEN updated_at ELSE \(at) END
                WHERE id = \(attempt.endpointID)
                    AND (\(plan.disableReason)::text IS NOT NULL OR (failing_since IS NULL) <> \(plan.answered))
                """,
                logger: logger)
        }
    }

    public func postponeWebhookDelivery(messageID: String, endpointID: String, until: Date) async throws {
        _ = try await query(
            """
            UPDATE webhook_deliveries SET next_attempt_at = \(until.milliseconds), lease_owner = NULL
            WHERE message_id = \(messageID) AND endpoint_id = \(endpointID) AND status = 'pending'
            """)
    }

    public func webhookAttempts(endpointID: String, tenant: String, limit: Int, before: Date?) async throws -> [WebhookAttempt] {
        let before = before?.milliseconds
        let rows = try await query(
            """
            SELECT a.message_id, a.endpoint_id, a.number, a.at, a.status_code, a.latency_ms, a.response, a.error, a.outcome,
                a.next_attempt_at
            FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
            WHERE a.endpoint_id = \(endpointID) AND e.tenant = \(tenant) AND (\(before)::bigint IS NULL OR a.at < \(before))
            ORDER BY a.at DESC, a.number DESC LIMIT \(limit)
            """)
        return try rows.decode((String, String, Int, Int64, Int?, Int, String?, String?, String, Int64?).self).map { row in
            WebhookColumns.attempt(
                messageID: row.0, endpointID: row.1, number: row.2, at: row.3, statusCode: row.4, latency: row.5, response: row.6,
                error: row.7, outcome: row.8, nextAttemptAt: row.9)
        }
    }

    public func replayWebhooks(endpointID: String, tenant: String, messageID: String?, from: Date?, to: Date?, now: Date) async throws
        -> Int
    {
        let (from, to) = (from?.milliseconds, to?.milliseconds)
        return try await committed(
            """
            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = \(now.milliseconds), lease_owner = NULL
            WHERE endpoint_id = \(endpointID) AND message_id IN (
                SELECT id FROM webhook_messages WHERE tenant = \(tenant) AND (\(messageID)::text IS NULL OR id = \(messageID))
                    AND (\(from)::bigint IS NULL OR created_at >= \(from)) AND (\(to)::bigint IS NULL OR created_at < \(to)))
            RETURNING message_id
            """
        ).count
    }

    /// Writes a webhook message for `trigger` when an enabled endpoint of the email's tenant
    /// wants it, with a delivery to each such endpoint, in the caller's transaction: one lookup
    /// finds the tenant and the stored fields (for the tags and metadata) only then.
    static func enqueueWebhook(_ trigger: WebhookTrigger, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(
            """
            SELECT email.tenant, content.message
            FROM emails AS email JOIN email_contents AS content ON content.email_id = email.id,
                (SELECT \(trigger.type.rawValue)::text AS type) AS wanted
            WHERE email.id = \(trigger.emailID.rawValue) AND EXISTS (
                SELECT 1 FROM webhook_endpoints AS endpoint
                WHERE endpoint.tenant = email.tenant AND \(unescaped: endpointWants("wanted.type")))
            """,
            logger: logger
        ).collect()
        guard let (tenant, fields) = try rows.decode((String, Data).self).first else { return }
        try await writeWebhookMessages([(trigger, tenant, fields)], on: connection, logger: logger)
    }

    private typealias EndpointRow = (String, String, String, String, Bool, String?, Int64, Int64)
    private static let endpointColumns =
        "SELECT id, tenant, url, event_types, enabled, disabled_reason, created_at, updated_at FROM webhook_endpoints"

    private static func endpoint(from row: EndpointRow) -> WebhookEndpoint {
        WebhookEndpoint(
            id: row.0, tenant: row.1, url: row.2, eventTypes: WebhookColumns.types(row.3), enabled: row.4, disabledReason: row.5,
            createdAt: Date(milliseconds: row.6), updatedAt: Date(milliseconds: row.7))
    }
}
