import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit

extension SQLiteEmailStore {
    public func leaseDueEmails(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [LeasedEmail] {
        let at = now.milliseconds
        let expiry = now.adding(duration).milliseconds
        let rows = try await write { db -> [DueEmail] in
            // Each row is read as the cursor passes it, without a copy of the row.
            let due = try Array(
                Row.fetchCursor(
                    db.cachedStatement(
                        sql: """
                            SELECT \(Self.dueColumns)
                            FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                            WHERE due_at <= ? ORDER BY due_at LIMIT ?
                            """
                    ),
                    arguments: [at, limit]
                ).map(Self.dueEmail(from:)))
            for email in due {
                if let pending = email.pendingAttempt {
                    try Self.record(InterruptedAttempt(pending, at: at), of: email.id, at: at, in: db)
                }
            }
            // One statement for the whole batch: the writer is the dispatcher's one serial
            // resource, and every email of every round passes through here.
            if !due.isEmpty {
                try db.execute(
                    sql: """
                        UPDATE emails SET status = 'sending', lease_owner = ?, lease_token = lease_token + 1,
                            rounds = rounds + 1, due_at = ?, updated_at = ?,
                            pending_attempt = NULL, pending_provider = NULL, pending_started_at = NULL
                        WHERE id IN (\(databaseQuestionMarks(count: due.count)))
                        """,
                    arguments: StatementArguments([owner, expiry, at] as [any DatabaseValueConvertible])
                        + StatementArguments(due.map(\.id))
                )
            }
            return due
        }
        return try await DueEmail.leased(rows) { recipientsByTenant in
            try await self.pool.read { db in
                var suppressed: [String: Set<String>] = [:]
                for (tenant, addresses) in recipientsByTenant {
                    suppressed[tenant] = try Set(
                        String.fetchAll(
                            db,
                            sql: """
                                SELECT address FROM suppressions WHERE tenant = ?
                                    AND address IN (\(databaseQuestionMarks(count: addresses.count)))
                                """,
                            arguments: StatementArguments([tenant] + Array(addresses))))
                }
                return suppressed
            }
        }
    }

    /// The columns ``dueEmail(from:)`` reads, in its order. It reads them by position: GRDB
    /// finds a column by name without regard to case, lowercasing the name on every read, and a
    /// lease reads these for every email it takes.
    private static let dueColumns = """
        id, tenant, message, text, html, created_at, queued_at, rounds, attempts, lease_token,
        pending_attempt, pending_provider, pending_started_at, metadata_only
        """

    private static func dueEmail(from row: Row) -> DueEmail {
        DueEmail(
            id: row[0], tenant: row[1], content: StoredContent(fields: row[2], text: row[3], html: row[4]), createdAt: row[5],
            queuedAt: row[6], rounds: row[7], leaseToken: row[9], attempts: row[8],
            pendingAttempt: (row[10] as Int?).map { DueEmail.PendingAttempt(number: $0, provider: row[11], startedAt: row[12]) },
            metadataOnly: row[13])
    }

    private static func record(_ interrupted: InterruptedAttempt, of emailID: String, at: Int64, in db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message)
                VALUES (?, ?, ?, ?, ?, 'failed', ?, ?, ?)
                """,
            arguments: [
                emailID, interrupted.number, interrupted.provider, interrupted.startedAt, interrupted.latencyMilliseconds,
                InterruptedAttempt.errorClass.rawValue, InterruptedAttempt.code, InterruptedAttempt.message,
            ]
        )
        try appendEvent(
            db, emailID: emailID, kind: .attemptFailed, at: at, attempt: interrupted.number, provider: interrupted.provider,
            detail: InterruptedAttempt.code)
    }

    public func record(_ progress: DeliveryProgress) async throws {
        try await groupCommit.perform { db, sends in
            try Self.apply(progress, to: db, counting: &sends)
        }
    }

    /// Carries out the progress's ``DeliveryWrite`` only under the lease it names. The email's
    /// own UPDATE, first, checks the lease (``leased``) rather than a SELECT before it: this
    /// runs twice for every email. When the lease is lost the UPDATE changes nothing and the
    /// throw rolls the operation back (``GroupCommit`` undoes a failing operation alone).
    private static func apply(_ progress: DeliveryProgress, to db: Database, counting tally: inout CommitTally) throws {
        let write = DeliveryWrite(progress)
        let id = write.emailID.rawValue
        let at = write.at.milliseconds
        switch write.change {
        case .attemptStarting(let number, let provider):
            try db.run(
                """
                UPDATE emails SET attempts = ?, pending_attempt = ?, pending_provider = ?, pending_started_at = ?,
                    updated_at = ? WHERE id = ? AND \(leased)
                """,
                .integer(number), .integer(number), .text(provider), .integer(at), .integer(at), .text(id), .integer(write.leaseToken)
            )
        case .roundEnded(let status, let dueAt, let provider, let providerMessageID, let reason, let roundsChange):
            // The round ends: the lease is given up and any pending attempt is settled.
            try db.run(
                """
                UPDATE emails SET status = ?, updated_at = ?, due_at = ?, next_attempt_at = ?, lease_owner = NULL,
                    pending_attempt = NULL, pending_provider = NULL, pending_started_at = NULL,
                    provider = COALESCE(?, provider), provider_message_id = COALESCE(?, provider_message_id),
                    failure_reason = ?, failure_class = ?, rounds = rounds + ?
                WHERE id = ? AND \(leased)
                """,
                .text(status.rawValue), .integer(at), .integer(dueAt?.milliseconds), .integer(dueAt?.milliseconds), .text(provider),
                .text(providerMessageID), .text(reason), .text(write.failureClass?.rawValue), .integer(roundsChange), .text(id),
                .integer(write.leaseToken)
            )
        }
        guard db.changesCount == 1 else { throw StoreError.leaseLost }

        if !write.suppressions.isEmpty {
            guard let tenant = try String.fetchOne(db.cachedStatement(sql: "SELECT tenant FROM emails WHERE id = ?"), arguments: [id])
            else { throw StoreError.leaseLost }
            for suppression in write.suppressions { try insert(suppression, tenant: tenant, into: db) }
        }
        if let attempt = write.finishedAttempt {
            try db.run(
                """
                INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message, routing)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                .text(id), .integer(attempt.number), .text(attempt.provider), .integer(attempt.startedAt.milliseconds),
                .integer(attempt.latencyMilliseconds), .text(attempt.outcome.rawValue), .text(attempt.errorClass?.rawValue),
                .text(attempt.errorCode), .text(attempt.message), .text(attempt.routing)
            )
        }
        for event in write.events {
            try appendEvent(
                db, emailID: id, kind: event.kind, at: event.at.milliseconds, attempt: event.attempt, provider: event.provider,
                detail: event.detail)
        }
        if let provider = write.sentThrough {
            tally.count(provider: provider, at: write.at)
            tally.count(.sent, at: write.at)
        }
        if let activity = write.activity { tally.count(activity, at: write.at) }
        if let webhook = write.webhook, try !isRedrivenFailure(webhook, in: db) { try enqueueWebhooks([webhook], in: db) }
        if write.removesContent { _ = try removeContent(of: id, at: at, in: db) }
    }

    /// Whether `webhook` is the `email.failed` of an email that the redrive policy queued
    /// again: its application heard of the failure when it first happened.
    private static func isRedrivenFailure(_ webhook: WebhookTrigger, in db: Database) throws -> Bool {
        guard webhook.type == .failed else { return false }
        let redrives = try Int.fetchOne(
            db.cachedStatement(sql: "SELECT redrives FROM emails WHERE id = ?"), arguments: [webhook.emailID.rawValue])
        return (redrives ?? 0) > 0
    }

    public func providerStates() async throws -> [ProviderStateRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM provider_state ORDER BY provider").map { row in
                let openUntil: Int64? = row["breaker_open_until"]
                let throttledUntil: Int64? = row["throttled_until"]
                return ProviderStateRecord(
                    provider: row["provider"], paused: row["paused"],
                    breakerOpenUntil: openUntil.map(Date.init(milliseconds:)),
                    throttledUntil: throttledUntil.map(Date.init(milliseconds:)))
            }
        }
    }

    public func saveProviderState(_ state: ProviderStateRecord) async throws {
        try await groupCommit.perform { db in
            try db.executeCached(
                sql: """
                    INSERT INTO provider_state (provider, paused, breaker_open_until, throttled_until, updated_at)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (provider) DO UPDATE SET paused = excluded.paused,
                        breaker_open_until = excluded.breaker_open_until, throttled_until = excluded.throttled_until,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    state.provider, state.paused, state.breakerOpenUntil?.milliseconds, state.throttledUntil?.milliseconds,
                    Date().milliseconds,
                ]
            )
        }
    }

    public func sendCounts(at now: Date) async throws -> [String: [SendQuota.Period: Int]] {
        try await pool.read { db in
            var counts: [String: [SendQuota.Period: Int]] = [:]
            for period in SendQuota.Period.allCases {
                let rows = try Row.fetchAll(
                    db, sql: "SELECT provider, count FROM provider_sends WHERE period = ? AND period_start = ?",
                    arguments: [period.rawValue, period.start(containing: now).milliseconds])
                for row in rows { counts[row["provider"], default: [:]][period] = row["count"] }
            }
            return counts
        }
    }

    /// The condition under which a delivery round may write an email: it is still being sent,
    /// under the round's lease token (the last argument).
    private static let leased = "status = 'sending' AND lease_token = ?"
}

/// What one group-committed batch counts, written once at its end rather than once per email:
/// the sends it marked, by provider and quota period, and its activity by minute and kind.
struct CommitTally: BatchTally {
    private struct SendKey: Hashable {
        let provider: String
        let period: SendQuota.Period
        let start: Int64
    }

    private struct ActivityKey: Hashable {
        let minute: Int64
        let kind: ActivityKind
    }

    private var sends: [SendKey: Int] = [:]
    private var activity: [ActivityKey: Int] = [:]

    init() {}

    mutating func count(provider: String, at date: Date) {
        for period in SendQuota.Period.allCases {
            sends[SendKey(provider: provider, period: period, start: period.start(containing: date).milliseconds), default: 0] += 1
        }
    }

    mutating func count(_ kind: ActivityKind, at date: Date, times: Int = 1) {
        activity[ActivityKey(minute: ActivityMinutes.minute(of: date), kind: kind), default: 0] += times
    }

    func write(to db: Database) throws {
        for (key, count) in sends {
            try db.executeCached(
                sql: """
                    INSERT INTO provider_sends (provider, period, period_start, count) VALUES (?, ?, ?, ?)
                    ON CONFLICT (provider, period, period_start) DO UPDATE SET count = count + excluded.count
                    """,
                arguments: [key.provider, key.period.rawValue, key.start, count]
            )
        }
        for (key, count) in activity {
            // The slot's row from a day before starts over.
            try db.executeCached(
                sql: """
                    INSERT INTO activity_minutes (slot, kind, minute, count) VALUES (?, ?, ?, ?)
                    ON CONFLICT (slot, kind) DO UPDATE SET
                        count = CASE WHEN minute = excluded.minute THEN count + excluded.count ELSE excluded.count END,
                        minute = excluded.minute
                    """,
                arguments: [ActivityMinutes.slot(of: key.minute), key.kind.rawValue, key.minute, count]
            )
        }
    }
}
