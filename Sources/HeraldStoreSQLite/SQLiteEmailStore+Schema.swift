import GRDB
import HeraldCore
import HeraldStoreKit

extension SQLiteEmailStore {
    /// Times are stored as milliseconds since 1970. `due_at` is when the dispatcher should next
    /// look at an email: its next attempt while queued or deferred, its lease expiry while
    /// sending, NULL once final. One index on it serves both new work and crashed leases.
    ///
    /// An email's content, written once, lives apart from its delivery state, which changes
    /// several times per attempt: an update then rewrites a small row instead of the whole
    /// message, and the write-ahead log grows by a page, not by the message's size. The text and
    /// HTML bodies have columns of their own (see ``StoredContent``); rows from v1 keep them in
    /// the JSON.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: emails, attempts, events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE emails (
                        id TEXT PRIMARY KEY NOT NULL,
                        status TEXT NOT NULL,
                        message BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        queued_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        due_at INTEGER,
                        next_attempt_at INTEGER,
                        lease_owner TEXT,
                        lease_token INTEGER NOT NULL DEFAULT 0,
                        rounds INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        pending_attempt INTEGER,
                        pending_provider TEXT,
                        pending_started_at INTEGER,
                        provider TEXT,
                        provider_message_id TEXT,
                        failure_reason TEXT
                    ) WITHOUT ROWID;
                    CREATE INDEX emails_due ON emails(due_at) WHERE due_at IS NOT NULL;
                    CREATE INDEX emails_status ON emails(status, id);

                    CREATE TABLE attempts (
                        email_id TEXT NOT NULL,
                        number INTEGER NOT NULL,
                        provider TEXT NOT NULL,
                        started_at INTEGER NOT NULL,
                        latency_ms INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        error_class TEXT,
                        error_code TEXT,
                        message TEXT,
                        PRIMARY KEY (email_id, number)
                    ) WITHOUT ROWID;

                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY,
                        email_id TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        attempt INTEGER,
                        provider TEXT,
                        detail TEXT
                    );
                    CREATE INDEX events_email ON events(email_id, seq);

                    CREATE TRIGGER attempts_append_only_update BEFORE UPDATE ON attempts
                    BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
                    CREATE TRIGGER attempts_append_only_delete BEFORE DELETE ON attempts
                    BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
                    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
                    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
                    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                    """
            )
        }
        migrator.registerMigration("v2: content apart from delivery state") { db in
            try db.execute(
                sql: """
                    CREATE TABLE email_contents (
                        email_id TEXT PRIMARY KEY NOT NULL,
                        message BLOB NOT NULL,
                        text TEXT,
                        html TEXT
                    );
                    INSERT INTO email_contents (email_id, message) SELECT id, message FROM emails;
                    ALTER TABLE emails DROP COLUMN message;
                    """
            )
        }
        migrator.registerMigration("v3: routing notes, provider state and send counts, scheduled sends") { db in
            try db.execute(
                sql: """
                    ALTER TABLE attempts ADD COLUMN routing TEXT;
                    ALTER TABLE emails ADD COLUMN send_at INTEGER;

                    CREATE TABLE provider_state (
                        provider TEXT PRIMARY KEY NOT NULL,
                        paused INTEGER NOT NULL DEFAULT 0,
                        breaker_open_until INTEGER,
                        throttled_until INTEGER,
                        updated_at INTEGER NOT NULL
                    ) WITHOUT ROWID;

                    -- Emails each provider took per UTC day and month; period_start in ms.
                    CREATE TABLE provider_sends (
                        provider TEXT NOT NULL,
                        period TEXT NOT NULL,
                        period_start INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        PRIMARY KEY (provider, period, period_start)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v4: API keys and tenants") { db in
            try db.execute(
                sql: """
                    ALTER TABLE emails ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
                    CREATE INDEX emails_tenant ON emails(tenant, id);

                    -- secret_hash is SHA-256 of the whole key; the key itself is never stored.
                    -- Answers kept for Idempotency-Key; status NULL while the request runs.
                    CREATE TABLE idempotency_keys (
                        api_key_id TEXT NOT NULL,
                        idempotency_key TEXT NOT NULL,
                        request_hash BLOB NOT NULL,
                        status INTEGER,
                        body BLOB,
                        location TEXT,
                        created_at INTEGER NOT NULL,
                        PRIMARY KEY (api_key_id, idempotency_key)
                    ) WITHOUT ROWID;

                    CREATE TABLE api_keys (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        secret_hash BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        revoked_at INTEGER,
                        rate_per_second REAL
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v5: suppressions") { db in
            try db.execute(
                sql: """
                    -- Each tenant's suppression list; address as Suppression.key(of:) gives it.
                    CREATE TABLE suppressions (
                        tenant TEXT NOT NULL,
                        address TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        source TEXT NOT NULL,
                        email_id TEXT,
                        created_at INTEGER NOT NULL,
                        PRIMARY KEY (tenant, address)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v6: tags apart from the binary message") { db in
            // Messages are stored in a binary form from now on (see StoredContent), which SQL
            // cannot search: the tags that bulk operations filter by get a column of their own.
            try db.execute(
                sql: """
                    ALTER TABLE email_contents ADD COLUMN tags TEXT;
                    UPDATE email_contents SET tags = json_extract(message, '$.tags')
                        WHERE json_array_length(message, '$.tags') > 0;
                    """
            )
        }
        migrator.registerMigration("v7: readiness probe") { db in
            // Always empty between probes: see SQLiteEmailStore.checkWritable.
            try db.execute(sql: "CREATE TABLE readiness_probe (payload BLOB NOT NULL)")
        }
        migrator.registerMigration("v8: idempotency claim tokens") { db in
            // NULL for claims made before tokens: their requests' answers cannot be stored.
            try db.execute(sql: "ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT")
        }
        migrator.registerMigration("v9: provider events and recipient states") { db in
            // `provider_events` is an email's history of what its providers reported, one row
            // per provider event (the primary key drops repeats); `recipients` holds each
            // recipient's state as those events moved it; `provider_event_counts` counts events
            // and refused requests per provider and hour, so that a webhook gone silent shows.
            try db.execute(
                sql: """
                    CREATE TABLE provider_events (
                        provider TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        email_id TEXT NOT NULL,
                        tenant TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        recipient TEXT,
                        occurred_at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL,
                        bounce_severity TEXT,
                        bounce_classification TEXT,
                        diagnostic TEXT,
                        detail TEXT,
                        payload BLOB NOT NULL,
                        PRIMARY KEY (provider, event_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX provider_events_email ON provider_events(email_id, occurred_at);
                    CREATE INDEX provider_events_soft_bounces ON provider_events(tenant, recipient, occurred_at)
                        WHERE kind = 'bounced' AND bounce_severity IS NOT 'hard';
                    CREATE TRIGGER provider_events_append_only_update BEFORE UPDATE ON provider_events
                    BEGIN SELECT RAISE(ABORT, 'provider events are append-only'); END;

                    CREATE TABLE recipients (
                        email_id TEXT NOT NULL,
                        address TEXT NOT NULL,
                        phase TEXT NOT NULL,
                        updated_at INTEGER NOT NULL,
                        bounce_severity TEXT,
                        bounce_classification TEXT,
                        diagnostic TEXT,
                        PRIMARY KEY (email_id, address)
                    ) WITHOUT ROWID;

                    CREATE TABLE provider_event_counts (
                        provider TEXT NOT NULL,
                        hour_start INTEGER NOT NULL,
                        events INTEGER NOT NULL DEFAULT 0,
                        refused INTEGER NOT NULL DEFAULT 0,
                        last_event_at INTEGER,
                        PRIMARY KEY (provider, hour_start)
                    ) WITHOUT ROWID;

                    ALTER TABLE suppressions ADD COLUMN event_id TEXT;
                    CREATE INDEX emails_provider_message ON emails(provider_message_id) WHERE provider_message_id IS NOT NULL;
                    """
            )
        }
        migrator.registerMigration("v10: webhook endpoints, their outbox and delivery log") { db in
            // `webhook_messages` is the outbox: written in the transaction of the change it
            // reports. `webhook_deliveries` holds each message's progress to each endpoint;
            // like `emails.due_at`, `next_attempt_at` is the next try while pending and the
            // lease's expiry while leased. `webhook_attempts` is the delivery log.
            try db.execute(
                sql: """
                    CREATE TABLE webhook_endpoints (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant TEXT NOT NULL,
                        url TEXT NOT NULL,
                        event_types TEXT NOT NULL,
                        enabled INTEGER NOT NULL,
                        disabled_reason TEXT,
                        secret BLOB NOT NULL,
                        previous_secret BLOB,
                        previous_secret_until INTEGER,
                        failing_since INTEGER,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints(tenant);

                    CREATE TABLE webhook_messages (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant TEXT NOT NULL,
                        type TEXT NOT NULL,
                        email_id TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL
                    ) WITHOUT ROWID;

                    CREATE TABLE webhook_deliveries (
                        message_id TEXT NOT NULL,
                        endpoint_id TEXT NOT NULL,
                        status TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at INTEGER,
                        lease_owner TEXT,
                        PRIMARY KEY (message_id, endpoint_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';

                    CREATE TABLE webhook_attempts (
                        message_id TEXT NOT NULL,
                        endpoint_id TEXT NOT NULL,
                        number INTEGER NOT NULL,
                        at INTEGER NOT NULL,
                        status_code INTEGER,
                        latency_ms INTEGER NOT NULL,
                        response TEXT,
                        error TEXT,
                        outcome TEXT NOT NULL,
                        next_attempt_at INTEGER,
                        PRIMARY KEY (message_id, endpoint_id, number)
                    ) WITHOUT ROWID;
                    CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, at);
                    """
            )
        }
        migrator.registerMigration("v11: emails found by recipient") { db in
            // The address first, so that one address's emails are one range of the index, in id order.
            try db.execute(
                sql: """
                    CREATE TABLE email_recipients (
                        address TEXT NOT NULL,
                        email_id TEXT NOT NULL,
                        PRIMARY KEY (address, email_id)
                    ) WITHOUT ROWID
                    """)
            let rows = try Row.fetchCursor(db, sql: "SELECT email_id, message, text, html FROM email_contents")
            while let row = try rows.next() {
                for address in try StoredContent(row: row).message().recipientKeys {
                    try db.execute(
                        sql: "INSERT INTO email_recipients (address, email_id) VALUES (?, ?)",
                        arguments: [address, row["email_id"] as String])
                }
            }
        }
        migrator.registerMigration("v12: activity by the minute") { db in
            // A ring of a day's minutes (ActivityMinutes): `minute` says which day's a slot holds.
            try db.execute(
                sql: """
                    CREATE TABLE activity_minutes (
                        slot INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        minute INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        PRIMARY KEY (slot, kind)
                    ) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v13: redrives of failed emails") { db in
            // The class of the failure that ended a failed email, and how often the redrive
            // policy queued it again. The redrive looks only at recent failed emails, by age.
            try db.execute(
                sql: """
                    ALTER TABLE emails ADD COLUMN failure_class TEXT;
                    ALTER TABLE emails ADD COLUMN redrives INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX emails_failed ON emails(created_at) WHERE status = 'failed';
                    """)
        }
        migrator.registerMigration("v14: retention") { db in
            // When retention removed an email's content; a retry or redrive of it is refused.
            // History stays append-only while its email is kept: retention removes the email
            // first, and only then may its attempts and events go.
            try db.execute(
                sql: """
                    ALTER TABLE emails ADD COLUMN content_removed_at INTEGER;
                    DROP TRIGGER attempts_append_only_delete;
                    CREATE TRIGGER attempts_append_only_delete BEFORE DELETE ON attempts
                    WHEN EXISTS (SELECT 1 FROM emails WHERE id = OLD.email_id)
                    BEGIN SELECT RAISE(ABORT, 'attempts are append-only while their email is kept'); END;
                    DROP TRIGGER events_append_only_delete;
                    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
                    WHEN EXISTS (SELECT 1 FROM emails WHERE id = OLD.email_id)
                    BEGIN SELECT RAISE(ABORT, 'events are append-only while their email is kept'); END;
                    """)
        }
        migrator.registerMigration("v15: metadata-only emails") { db in
            // Whether an email's content goes in the transaction that records it sent.
            try db.execute(sql: "ALTER TABLE emails ADD COLUMN metadata_only INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }
}
