import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Brings the schema up to date. Nodes that start together take turns through an advisory
    /// lock held by the migrating transaction, so that each migration runs once.
    public func migrate() async throws {
        try await longTransaction { connection in
            try await connection.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.execute(
                """
                CREATE TABLE IF NOT EXISTS herald_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """,
                logger: logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query("SELECT version FROM herald_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for (index, migration) in Self.migrations.enumerated() where !applied.contains(index + 1) {
                for statement in migration.statements {
                    try await connection.execute(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                if index + 1 == Self.recipientsMigration { try await Self.backfillRecipients(on: connection, logger: logger) }
                try await connection.execute(
                    "INSERT INTO herald_migrations (version, name) VALUES (\(index + 1), \(migration.name))", logger: logger)
                logger.info("migrated the PostgreSQL store", metadata: ["migration": "\(migration.name)"])
            }
        }
    }

    /// How many migrations there are; the schema is current once all are applied.
    public static var migrationCount: Int { migrations.count }

    /// The key of the advisory lock that serialises migrations: "herald" in ASCII.
    static let migrationLock: Int64 = 0x68_65_72_61_6C_64

    /// The same tables as the SQLite store, one migration for what took it five. Statements run
    /// one by one: the extended query protocol takes one statement at a time.
    static let migrations: [(name: String, statements: [String])] = [
        (
            "v1: emails, history, keys, idempotency, suppressions, provider state",
            [
                """
                CREATE TABLE emails (
                    id TEXT PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    queued_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    due_at BIGINT,
                    next_attempt_at BIGINT,
                    send_at BIGINT,
                    lease_owner TEXT,
                    lease_token BIGINT NOT NULL DEFAULT 0,
                    rounds INTEGER NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    pending_attempt INTEGER,
                    pending_provider TEXT,
                    pending_started_at BIGINT,
                    provider TEXT,
                    provider_message_id TEXT,
                    failure_reason TEXT
                )
                """,
                "CREATE INDEX emails_due ON emails (due_at) WHERE due_at IS NOT NULL",
                "CREATE INDEX emails_status ON emails (status, id)",
                "CREATE INDEX emails_tenant ON emails (tenant, id)",
                // The bodies apart from the rest, as in the SQLite store; tags too, for filters.
                """
                CREATE TABLE email_contents (
                    email_id TEXT PRIMARY KEY REFERENCES emails (id),
                    message BYTEA NOT NULL,
                    text TEXT,
                    html TEXT,
                    tags TEXT[] NOT NULL DEFAULT '{}'
                )
                """,
                """
                CREATE TABLE attempts (
                    email_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    provider TEXT NOT NULL,
                    started_at BIGINT NOT NULL,
                    latency_ms BIGINT NOT NULL,
                    outcome TEXT NOT NULL,
                    error_class TEXT,
                    error_code TEXT,
                    message TEXT,
                    routing TEXT,
                    PRIMARY KEY (email_id, number)
                )
                """,
                """
                CREATE TABLE events (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    email_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    at BIGINT NOT NULL,
                    attempt INTEGER,
                    provider TEXT,
                    detail TEXT
                )
                """,
                "CREATE INDEX events_email ON events (email_id, seq)",
                """
                CREATE FUNCTION herald_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$
                """,
                """
                CREATE TRIGGER attempts_append_only BEFORE UPDATE OR DELETE ON attempts
                FOR EACH ROW EXECUTE FUNCTION herald_append_only()
                """,
                """
                CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
                FOR EACH ROW EXECUTE FUNCTION herald_append_only()
                """,
                """
                CREATE TABLE provider_state (
                    provider TEXT PRIMARY KEY,
                    paused BOOLEAN NOT NULL DEFAULT false,
                    breaker_open_until BIGINT,
                    throttled_until BIGINT,
                    updated_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE provider_sends (
                    provider TEXT NOT NULL,
                    period TEXT NOT NULL,
                    period_start BIGINT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (provider, period, period_start)
                )
                """,
                // Only SHA-256 of a key is kept; status is NULL while its request runs.
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    secret_hash BYTEA NOT NULL,
                    created_at BIGINT NOT NULL,
                    revoked_at BIGINT,
                    rate_per_second DOUBLE PRECISION
                )
                """,
                """
                CREATE TABLE idempotency_keys (
                    api_key_id TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL,
                    request_hash BYTEA NOT NULL,
                    status INTEGER,
                    body BYTEA,
                    location TEXT,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (api_key_id, idempotency_key)
                )
                """,
                "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
                """
                CREATE TABLE suppressions (
                    tenant TEXT NOT NULL,
                    address TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    source TEXT NOT NULL,
                    email_id TEXT,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (tenant, address)
                )
                """,
            ]
        ),
        (
            "v2: send-rate buckets shared by the nodes",
            [
                """
                CREATE TABLE provider_tokens (
                    provider TEXT PRIMARY KEY,
                    tokens DOUBLE PRECISION NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """
            ]
        ),
        (
            "v3: idempotency claim tokens",
            // NULL for claims made before tokens: their requests' answers cannot be stored.
            ["ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT"]
        ),
        (
            "v4: a table for the readiness check's write",
            [
                "CREATE TABLE herald_readiness (filler BYTEA NOT NULL)",
                // Stored as it is, out of line: the check's row needs pages of its own.
                "ALTER TABLE herald_readiness ALTER COLUMN filler SET STORAGE EXTERNAL",
            ]
        ),
        (
            "v5: provider events and recipient states",
            // As in the SQLite store (SQLiteEmailStore+Schema, v9).
            [
                """
                CREATE TABLE provider_events (
                    provider TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    email_id TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    recipient TEXT,
                    occurred_at BIGINT NOT NULL,
                    received_at BIGINT NOT NULL,
                    bounce_severity TEXT,
                    bounce_classification TEXT,
                    diagnostic TEXT,
                    detail TEXT,
                    payload BYTEA NOT NULL,
                    PRIMARY KEY (provider, event_id)
                )
                """,
                "CREATE INDEX provider_events_email ON provider_events (email_id, occurred_at)",
                """
                CREATE TRIGGER provider_events_append_only BEFORE UPDATE ON provider_events
                FOR EACH ROW EXECUTE FUNCTION herald_append_only()
                """,
                """
                CREATE INDEX provider_events_soft_bounces ON provider_events (tenant, recipient, occurred_at)
                    WHERE kind = 'bounced' AND bounce_severity IS DISTINCT FROM 'hard'
                """,
                """
                CREATE TABLE recipients (
                    email_id TEXT NOT NULL,
                    address TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    bounce_severity TEXT,
                    bounce_classification TEXT,
                    diagnostic TEXT,
                    PRIMARY KEY (email_id, address)
                )
                """,
                """
                CREATE TABLE provider_event_counts (
                    provider TEXT NOT NULL,
                    hour_start BIGINT NOT NULL,
                    events BIGINT NOT NULL DEFAULT 0,
                    refused BIGINT NOT NULL DEFAULT 0,
                    last_event_at BIGINT,
                    PRIMARY KEY (provider, hour_start)
                )
                """,
                "ALTER TABLE suppressions ADD COLUMN event_id TEXT",
                "CREATE INDEX emails_provider_message ON emails (provider_message_id) WHERE provider_message_id IS NOT NULL",
            ]
        ),
        (
            "v6: webhook endpoints, their outbox and delivery log",
            // As in the SQLite store (SQLiteEmailStore+Schema, v10).
            [
                """
                CREATE TABLE webhook_endpoints (
                    id TEXT PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    url TEXT NOT NULL,
                    event_types TEXT NOT NULL,
                    enabled BOOLEAN NOT NULL,
                    disabled_reason TEXT,
                    secret BYTEA NOT NULL,
                    previous_secret BYTEA,
                    previous_secret_until BIGINT,
                    failing_since BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant)",
                """
                CREATE TABLE webhook_messages (
                    id TEXT PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    type TEXT NOT NULL,
                    email_id TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE webhook_deliveries (
                    message_id TEXT NOT NULL,
                    endpoint_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT,
                    lease_owner TEXT,
                    PRIMARY KEY (message_id, endpoint_id)
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
                """
                CREATE TABLE webhook_attempts (
                    message_id TEXT NOT NULL,
                    endpoint_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    at BIGINT NOT NULL,
                    status_code INTEGER,
                    latency_ms INTEGER NOT NULL,
                    response TEXT,
                    error TEXT,
                    outcome TEXT NOT NULL,
                    next_attempt_at BIGINT,
                    PRIMARY KEY (message_id, endpoint_id, number)
                )
                """,
                "CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at)",
            ]
        ),
        (
            "v7: send counts in shards",
            // Every send of every node counted into one row per provider and period made each
            // delivery's transaction wait for the one before it to commit; after an outage the
            // queue of them outlasted the store's timeout. Sixteen rows per period spread them.
            [
                "ALTER TABLE provider_sends ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0",
                "ALTER TABLE provider_sends DROP CONSTRAINT provider_sends_pkey",
                "ALTER TABLE provider_sends ADD PRIMARY KEY (provider, period, period_start, shard)",
            ]
        ),
        (
            "v8: emails found by recipient",
            // The address first, so that one address's emails are one range of the index, in id
            // order. Emails stored before are added by `backfillRecipients`.
            [
                """
                CREATE TABLE email_recipients (
                    address TEXT NOT NULL,
                    email_id TEXT NOT NULL,
                    PRIMARY KEY (address, email_id)
                )
                """
            ]
        ),
        (
            "v9: activity by the minute",
            // A ring of a day's minutes (ActivityMinutes), each slot in sendCountShards rows.
            [
                """
                CREATE TABLE activity_minutes (
                    slot INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    shard SMALLINT NOT NULL,
                    minute BIGINT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (slot, kind, shard)
                )
                """
            ]
        ),
        (
            "v10: redrives of failed emails",
            // The class of the failure that ended a failed email, and how often the redrive
            // policy queued it again. The redrive looks only at recent failed emails, by age.
            [
                "ALTER TABLE emails ADD COLUMN failure_class TEXT",
                "ALTER TABLE emails ADD COLUMN redrives INTEGER NOT NULL DEFAULT 0",
                "CREATE INDEX emails_failed ON emails (created_at) WHERE status = 'failed'",
            ]
        ),
        (
            "v11: retention",
            // When retention removed an email's content; a retry or redrive of it is refused.
            // History stays append-only while its email is kept: retention removes the email
            // first, and only then may its attempts and events go.
            [
                "ALTER TABLE emails ADD COLUMN content_removed_at BIGINT",
                """
                CREATE FUNCTION herald_history_of_kept_email() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT 1 FROM emails WHERE id = OLD.email_id) THEN
                        RAISE EXCEPTION '% is append-only while its email is kept', TG_TABLE_NAME;
                    END IF;
                    RETURN OLD;
                END $$
                """,
                "DROP TRIGGER attempts_append_only ON attempts",
                "CREATE TRIGGER attempts_append_only BEFORE UPDATE ON attempts FOR EACH ROW EXECUTE FUNCTION herald_append_only()",
                """
                CREATE TRIGGER attempts_kept_with_email BEFORE DELETE ON attempts
                FOR EACH ROW EXECUTE FUNCTION herald_history_of_kept_email()
                """,
                "DROP TRIGGER events_append_only ON events",
                "CREATE TRIGGER events_append_only BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION herald_append_only()",
                """
                CREATE TRIGGER events_kept_with_email BEFORE DELETE ON events
                FOR EACH ROW EXECUTE FUNCTION herald_history_of_kept_email()
                """,
            ]
        ),
        (
            "v12: metadata-only emails",
            // Whether an email's content goes in the transaction that records it sent.
            ["ALTER TABLE emails ADD COLUMN metadata_only BOOLEAN NOT NULL DEFAULT false"]
        ),
    ]

    /// The migration after which emails stored before it are added to `email_recipients`: their
    /// recipients are in the binary message, which only Swift reads.
    public static let recipientsMigration = 8

    static func backfillRecipients(on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("SELECT email_id, message, text, html FROM email_contents", logger: logger)
        var addresses: [String] = []
        var ids: [String] = []
        for try await (id, fields, text, html) in rows.decode((String, Data, String?, String?).self) {
            for address in try StoredContent(fields: fields, text: text, html: html).message().recipientKeys {
                addresses.append(address)
                ids.append(id)
            }
        }
        guard !ids.isEmpty else { return }
        try await connection.execute(
            "INSERT INTO email_recipients (address, email_id) SELECT * FROM unnest(\(addresses)::text[], \(ids)::text[])",
            logger: logger)
    }
}
