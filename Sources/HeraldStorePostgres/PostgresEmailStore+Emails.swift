import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore {
    public func insert(_ email: NewEmail) async throws {
        try await insert(batch: [email])
    }

    /// In the next batch of accepts (``accepts``): requests that arrive together share one
    /// statement, and so one commit.
    public func insert(batch emails: [NewEmail]) async throws {
        guard !emails.isEmpty else { return }
        try await accepts.perform(emails)
    }

    /// Inserts `emails` and runs `alongside` first, in one transaction of their own.
    func insert(batch emails: [NewEmail], alongside: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        try await transaction { [logger] connection in
            try await alongside(connection)
            guard !emails.isEmpty else { return }
            try await Self.writeAccepted(emails, on: connection, logger: logger)
        }
    }

    /// One batch of accepts at a time: the accepts that arrive while it is written make the
    /// next one. With two at once, batches were half the size and the rate lower (6,598 against
    /// 8,030 emails/s at 64 connections on this 2-core machine, docs/benchmarks.md).
    static let acceptLanes = 1
    /// At most this many emails in one statement, so that a batch's arrays stay a few megabytes.
    static let emailsPerAcceptBatch = 1_000

    /// Writes a batch of accepts in one statement, one round trip, with `unnest` of an array
    /// per column: each email with its content, recipients, `queued` event and `email.queued`
    /// webhook message (kept only when an enabled endpoint of its tenant wants it, with a
    /// delivery to each such endpoint), the batch's count in the activity minutes, and a
    /// notification that tells the other nodes new emails are due. Outside a transaction the
    /// statement is one of its own.
    static func writeAccepted(_ emails: [NewEmail], on connection: PostgresConnection, logger: Logger) async throws {
        let batch = AcceptedBatch(emails)
        try await connection.execute(
            """
            WITH input AS (
                SELECT * FROM unnest(\(batch.ids)::text[], \(batch.tenants)::text[], \(batch.acceptedAt)::bigint[],
                    \(batch.dueAt)::bigint[], \(batch.sendAt)::bigint[], \(batch.fields)::bytea[], \(batch.texts)::text[],
                    \(batch.htmls)::text[], \(batch.webhookIDs)::text[], \(batch.webhookBodies)::bytea[],
                    \(batch.metadataOnly)::boolean[])
                    AS input (id, tenant, at, due, send_at, message, text, html, webhook_id, webhook_body, metadata_only)
            ), announced AS (
                SELECT pg_notify(\(newEmailsChannel), '')
            ), email AS (
                INSERT INTO emails (
                    id, tenant, status, created_at, queued_at, updated_at, due_at, next_attempt_at, send_at, metadata_only)
                SELECT id, tenant, 'queued', at, due, at, due, due, send_at, metadata_only FROM input
            ), content AS (
                INSERT INTO email_contents (email_id, message, text, html, tags)
                SELECT input.id, message, text, html, COALESCE(tagged.tags, '{}') FROM input LEFT JOIN (
                    SELECT email_id, array_agg(tag ORDER BY position) AS tags
                    FROM unnest(\(batch.tagEmailIDs)::text[], \(batch.tags)::text[]) WITH ORDINALITY AS tag (email_id, tag, position)
                    GROUP BY email_id
                ) AS tagged ON tagged.email_id = input.id
            ), recipients AS (
                INSERT INTO email_recipients (address, email_id)
                SELECT * FROM unnest(\(batch.recipientAddresses)::text[], \(batch.recipientEmailIDs)::text[])
            ), activity AS (
                INSERT INTO activity_minutes (slot, kind, shard, minute, count)
                SELECT slot, \(ActivityKind.accepted.rawValue), shard, minute, count
                FROM unnest(\(batch.activity.slots)::integer[], \(batch.activity.shards)::smallint[],
                    \(batch.activity.minutes)::bigint[], \(batch.activity.counts)::bigint[]) AS counted (slot, shard, minute, count)
                ON CONFLICT (slot, kind, shard) DO UPDATE SET \(unescaped: activityCountUpdate)
            ), message AS (
                INSERT INTO webhook_messages (id, tenant, type, email_id, body, created_at)
                SELECT webhook_id, tenant, \(WebhookEventType.queued.rawValue), id, webhook_body, at FROM input
                WHERE EXISTS (
                    SELECT 1 FROM webhook_endpoints AS endpoint
                    WHERE endpoint.tenant = input.tenant AND \(unescaped: endpointWants("'\(WebhookEventType.queued.rawValue)'")))
                RETURNING id, tenant, created_at
            ), delivery AS (
                INSERT INTO webhook_deliveries (message_id, endpoint_id, status, next_attempt_at)
                SELECT message.id, endpoint.id, 'pending', message.created_at
                FROM message JOIN webhook_endpoints AS endpoint
                    ON endpoint.tenant = message.tenant AND \(unescaped: endpointWants("'\(WebhookEventType.queued.rawValue)'"))
            )
            INSERT INTO events (email_id, kind, at)
            SELECT id, \(EmailEvent.Kind.queued.rawValue), at FROM input, announced
            """,
            logger: logger)
    }

    public func email(_ id: EmailID, tenant: String?) async throws -> EmailDetail? {
        try await withConnection { [self] connection in
            let found = try await connection.query(
                """
                SELECT tenant, status, created_at, updated_at, next_attempt_at, provider, provider_message_id, failure_reason,
                    send_at, content_removed_at, message, text, html
                FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                WHERE id = \(id.rawValue) AND (\(tenant)::text IS NULL OR tenant = \(tenant))
                """,
                logger: logger
            ).collect()
            guard let row = found.first?.makeRandomAccess() else { return nil }
            var attempts: [Attempt] = []
            let attemptRows = try await connection.query(
                """
                SELECT number, provider, started_at, latency_ms, outcome, error_class, error_code, message, routing
                FROM attempts WHERE email_id = \(id.rawValue) ORDER BY number
                """,
                logger: logger)
            for try await attempt in attemptRows {
                attempts.append(try Self.attempt(from: attempt.makeRandomAccess()))
            }
            var events: [EmailEvent] = []
            let eventRows = try await connection.query(
                "SELECT kind, at, attempt, provider, detail FROM events WHERE email_id = \(id.rawValue) ORDER BY seq", logger: logger)
            for try await event in eventRows {
                events.append(try Self.event(from: event.makeRandomAccess()))
            }
            let content = StoredContent(
                fields: try row["message"].decode(Data.self), text: try row["text"].decode(String?.self),
                html: try row["html"].decode(String?.self))
            return EmailDetail(
                id: id,
                tenant: try row["tenant"].decode(String.self),
                status: EmailStatus(rawValue: try row["status"].decode(String.self)) ?? .failed,
                createdAt: Date(milliseconds: try row["created_at"].decode(Int64.self)),
                updatedAt: Date(milliseconds: try row["updated_at"].decode(Int64.self)),
                nextAttemptAt: try row["next_attempt_at"].decode(Int64?.self).map(Date.init(milliseconds:)),
                provider: try row["provider"].decode(String?.self),
                providerMessageID: try row["provider_message_id"].decode(String?.self),
                failureReason: try row["failure_reason"].decode(String?.self),
                sendAt: try row["send_at"].decode(Int64?.self).map(Date.init(milliseconds:)),
                message: try content.message(),
                attempts: attempts,
                events: events,
                providerEvents: try await Self.providerEvents(of: id.rawValue, on: connection, logger: logger),
                recipients: try await Self.recipientStates(of: id.rawValue, on: connection, logger: logger),
                contentRemovedAt: try row["content_removed_at"].decode(Int64?.self).map(Date.init(milliseconds:))
            )
        }
    }

    public func emails(matching filter: EmailFilter, limit: Int, after cursor: EmailID?) async throws -> [EmailSummary] {
        let statuses = filter.status.map { [$0.rawValue] }
        let rows = try await query(
            Self.emails(
                matching: filter, statuses: statuses, select: "id, status, created_at, updated_at, provider", after: nil,
                before: cursor?.rawValue, then: "ORDER BY id DESC LIMIT \(limit)"))
        var summaries: [EmailSummary] = []
        for (id, status, createdAt, updatedAt, provider) in try rows.decode((String, String, Int64, Int64, String?).self) {
            guard let id = EmailID(id) else { continue }
            summaries.append(
                EmailSummary(
                    id: id, status: EmailStatus(rawValue: status) ?? .failed, createdAt: Date(milliseconds: createdAt),
                    updatedAt: Date(milliseconds: updatedAt), provider: provider))
        }
        return summaries
    }

    public func retry(_ id: EmailID, tenant: String?, now: Date) async throws {
        try await transition(id, tenant: tenant, from: EmailStatus.retryable, now: now, event: .retried, update: Self.requeue)
    }

    public func cancel(_ id: EmailID, tenant: String?, now: Date) async throws {
        try await transition(id, tenant: tenant, from: EmailStatus.cancellable, now: now, event: .cancelled, update: Self.cancel)
    }

    public func retry(matching filter: EmailFilter, now: Date) async throws -> Int {
        try await transitionAll(matching: filter, from: EmailStatus.retryable, now: now, event: .retried, update: Self.requeue)
    }

    public func cancel(matching filter: EmailFilter, now: Date) async throws -> Int {
        try await transitionAll(matching: filter, from: EmailStatus.cancellable, now: now, event: .cancelled, update: Self.cancel)
    }

    private typealias Update = @Sendable (PostgresConnection, [String], Int64, Logger) async throws -> Void

    /// A retried email starts afresh: due now, its maximum age counted from now, and its
    /// redrives counted again from none.
    private static let requeue: Update = { connection, ids, at, logger in
        try await queueAgain(ids, at: at, redriven: false, on: connection, logger: logger)
    }

    /// Queues failed emails again, as a retry by hand or, `redriven`, by the redrive policy,
    /// which counts it rather than starting the count afresh.
    private static func queueAgain(
        _ ids: [String], at: Int64, redriven: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.execute(
            """
            UPDATE emails SET status = 'queued', queued_at = \(at), updated_at = \(at), due_at = \(at), next_attempt_at = \(at),
                rounds = 0, failure_reason = NULL, failure_class = NULL,
                redrives = CASE WHEN \(redriven) THEN emails.redrives + 1 ELSE 0 END
            WHERE id = ANY(\(ids))
            """,
            logger: logger)
    }

    /// Pages of at most ``EmailFilter/emailsPerTransaction`` emails, each locked and checked
    /// again as it is taken: of two nodes redriving at once, the second finds the emails the
    /// first took queued already, and passes them by.
    public func redrive(_ selection: RedriveSelection, now: Date) async throws -> Int {
        let classes = selection.errorClasses.subtracting(RedrivePolicy.neverRedriven).map(\.rawValue).sorted()
        guard !classes.isEmpty, selection.redrivenFewerThan > 0 else { return 0 }
        let at = now.milliseconds
        return try await EmailFilter.moveInPages { after in
            try await transaction { [self] connection in
                // The page in the database's own order of ids, which the next page continues.
                let rows = try await connection.query(
                    """
                    SELECT id FROM emails
                    WHERE status = 'failed' AND created_at > \(selection.acceptedAfter.milliseconds)
                        AND updated_at < \(selection.failedBefore.milliseconds) AND redrives < \(selection.redrivenFewerThan)
                        AND content_removed_at IS NULL AND failure_class = ANY(\(classes)) AND id > \(after)
                    ORDER BY id LIMIT \(EmailFilter.emailsPerTransaction) FOR UPDATE
                    """,
                    logger: logger)
                var ids: [String] = []
                for try await id in rows.decode(String.self) { ids.append(id) }
                guard !ids.isEmpty else { return [] }
                try await Self.queueAgain(ids, at: at, redriven: true, on: connection, logger: logger)
                try await Self.appendEvents(connection, emailIDs: ids, kind: .redriven, at: at, detail: selection.reason, logger: logger)
                try await Self.announceNewEmails(on: connection, logger: logger)
                return ids
            }
        }
    }

    private static let cancel: Update = { connection, ids, at, logger in
        try await connection.execute(
            "UPDATE emails SET status = 'cancelled', updated_at = \(at), due_at = NULL, next_attempt_at = NULL WHERE id = ANY(\(ids))",
            logger: logger)
        for id in ids.compactMap(EmailID.init) {
            try await enqueueWebhook(
                WebhookTrigger(type: .cancelled, emailID: id, at: Date(milliseconds: at)), on: connection, logger: logger)
        }
    }

    private func transition(
        _ id: EmailID, tenant: String?, from allowed: Set<EmailStatus>, now: Date, event: EmailEvent.Kind, update: @escaping Update
    ) async throws {
        let at = now.milliseconds
        try await transaction { [self] connection in
            let rows = try await connection.query(
                """
                SELECT status, content_removed_at FROM emails
                WHERE id = \(id.rawValue) AND (\(tenant)::text IS NULL OR tenant = \(tenant)) FOR UPDATE
                """,
                logger: logger)
            var found: (String, Int64?)?
            for try await row in rows.decode((String, Int64?).self) { found = row }
            guard let found, let status = EmailStatus(rawValue: found.0) else { throw StoreError.notFound }
            guard allowed.contains(status) else { throw StoreError(.invalidTransition, "the email is \(status.rawValue)") }
            guard found.1 == nil else { throw StoreError.contentRemoved }
            try await update(connection, [id.rawValue], at, logger)
            try await Self.appendEvents(connection, emailIDs: [id.rawValue], kind: event, at: at, logger: logger)
            if event == .retried { try await Self.announceNewEmails(on: connection, logger: logger) }
        }
    }

    /// Moves every email that matches `filter` and is in one of the `allowed` states, each with
    /// its event, in transactions of ``EmailFilter/emailsPerTransaction`` in id order: each
    /// email once, and no transaction holds its row locks for long.
    private func transitionAll(
        matching filter: EmailFilter, from allowed: Set<EmailStatus>, now: Date, event: EmailEvent.Kind, update: @escaping Update
    ) async throws -> Int {
        let statuses = allowed.filter { filter.status == nil || filter.status == $0 }.map(\.rawValue).sorted()
        guard !statuses.isEmpty else { return 0 }
        let at = now.milliseconds
        return try await EmailFilter.moveInPages { after in
            try await transitionChunk(matching: filter, statuses: statuses, after: after, at: at, event: event, update: update)
        }
    }

    public func count(matching filter: EmailFilter, in statuses: Set<EmailStatus>) async throws -> Int {
        let statuses = statuses.filter { filter.status == nil || filter.status == $0 }.map(\.rawValue).sorted()
        guard !statuses.isEmpty else { return 0 }
        let rows = try await query(
            Self.emails(matching: filter, statuses: statuses, movable: true, select: "count(*)", after: nil, before: nil, then: ""))
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// `SELECT <select> FROM emails` where they match `filter`, are in one of `statuses` (any
    /// for nil) and have ids between `after` and `before`, then `then` (an order, a limit, a lock).
    /// With `movable`, only emails that still have their content, which a bulk operation may move.
    /// Tag and provider are checked email by email, so that a newest-first page reads only the
    /// emails up to its last match rather than every email with the tag.
    private static func emails(
        matching filter: EmailFilter, statuses: [String]?, movable: Bool = false, select: String, after: String?, before: String?,
        then: String
    ) -> PostgresQuery {
        let recipient = filter.recipient.map(EmailMessage.recipientKey(of:))
        return """
            SELECT \(unescaped: select) FROM emails
            WHERE (\(statuses)::text[] IS NULL OR status = ANY(\(statuses)))
                AND (NOT \(movable) OR content_removed_at IS NULL)
                AND (\(filter.tenant)::text IS NULL OR tenant = \(filter.tenant))
                AND (\(recipient)::text IS NULL OR id IN (SELECT email_id FROM email_recipients WHERE address = \(recipient)))
                AND (\(filter.provider)::text IS NULL OR provider = \(filter.provider) OR pending_provider = \(filter.provider)
                    OR EXISTS (SELECT 1 FROM attempts WHERE attempts.email_id = emails.id AND attempts.provider = \(filter.provider)))
                AND (\(filter.createdAfter?.milliseconds)::bigint IS NULL OR created_at >= \(filter.createdAfter?.milliseconds))
                AND (\(filter.createdBefore?.milliseconds)::bigint IS NULL OR created_at < \(filter.createdBefore?.milliseconds))
                AND (\(filter.tag)::text IS NULL
                    OR EXISTS (SELECT 1 FROM email_contents WHERE email_contents.email_id = emails.id AND \(filter.tag) = ANY(tags)))
                AND (\(after)::text IS NULL OR id > \(after))
                AND (\(before)::text IS NULL OR id < \(before))
            \(unescaped: then)
            """
    }

    private func transitionChunk(
        matching filter: EmailFilter, statuses: [String], after: String, at: Int64, event: EmailEvent.Kind, update: @escaping Update
    ) async throws -> [String] {
        try await transaction { [self] connection in
            let query = Self.emails(
                matching: filter, statuses: statuses, movable: true, select: "id", after: after, before: nil,
                then: "ORDER BY id LIMIT \(EmailFilter.emailsPerTransaction) FOR UPDATE")
            let rows = try await connection.query(query, logger: logger)
            var ids: [String] = []
            for try await id in rows.decode(String.self) { ids.append(id) }
            guard !ids.isEmpty else { return [] }
            try await update(connection, ids, at, logger)
            try await Self.appendEvents(connection, emailIDs: ids, kind: event, at: at, logger: logger)
            if event == .retried { try await Self.announceNewEmails(on: connection, logger: logger) }
            return ids
        }
    }

    public func releaseLeases(owner: String, except held: Set<EmailID>, now: Date) async throws {
        try await query(
            """
            UPDATE emails SET due_at = \(now.milliseconds), lease_owner = NULL
            WHERE status = 'sending' AND lease_owner = \(owner) AND id <> ALL(\(held.map(\.rawValue)))
            """)
    }

    public func queueStatistics(now: Date) async throws -> QueueStatistics {
        let rows = try await query(
            """
            SELECT
                (SELECT count(*) FROM emails WHERE status = 'queued'),
                (SELECT count(*) FROM emails WHERE status = 'sending'),
                (SELECT count(*) FROM emails WHERE status = 'deferred'),
                (SELECT min(due_at) FROM emails WHERE due_at <= \(now.milliseconds))
            """)
        for (queued, sending, deferred, oldest) in try rows.decode((Int, Int, Int, Int64?).self) {
            return QueueStatistics(
                emailsByStatus: [.queued: queued, .sending: sending, .deferred: deferred],
                oldestDueAt: oldest.map(Date.init(milliseconds:)))
        }
        return QueueStatistics(emailsByStatus: [.queued: 0, .sending: 0, .deferred: 0], oldestDueAt: nil)
    }

    static func appendEvents(
        _ connection: PostgresConnection, emailIDs: [String], kind: EmailEvent.Kind, at: Int64, attempt: Int? = nil,
        provider: String? = nil, detail: String? = nil, logger: Logger
    ) async throws {
        try await connection.execute(
            """
            INSERT INTO events (email_id, kind, at, attempt, provider, detail)
            SELECT id, \(kind.rawValue), \(at), \(attempt), \(provider), \(detail) FROM unnest(\(emailIDs)::text[]) AS id
            """,
            logger: logger)
    }

    private static func attempt(from row: PostgresRandomAccessRow) throws -> Attempt {
        Attempt(
            number: try row["number"].decode(Int.self),
            provider: try row["provider"].decode(String.self),
            startedAt: Date(milliseconds: try row["started_at"].decode(Int64.self)),
            latencyMilliseconds: try row["latency_ms"].decode(Int.self),
            outcome: Attempt.Outcome(rawValue: try row["outcome"].decode(String.self)) ?? .failed,
            errorClass: try row["error_class"].decode(String?.self).flatMap(ErrorClass.init(rawValue:)),
            errorCode: try row["error_code"].decode(String?.self),
            message: try row["message"].decode(String?.self),
            routing: try row["routing"].decode(String?.self)
        )
    }

    private static func event(from row: PostgresRandomAccessRow) throws -> EmailEvent {
        EmailEvent(
            kind: EmailEvent.Kind(rawValue: try row["kind"].decode(String.self)) ?? .queued,
            at: Date(milliseconds: try row["at"].decode(Int64.self)),
            attempt: try row["attempt"].decode(Int?.self),
            provider: try row["provider"].decode(String?.self),
            detail: try row["detail"].decode(String?.self)
        )
    }
}
