import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Takes due emails that no other node holds: rows another transaction has locked are
    /// skipped rather than waited for, so that nodes leasing at once each get their own. One
    /// statement leases them and reads their contents; the attempts that a lease running out
    /// cut short, which are rare, are recorded by a second in the same transaction.
    public func leaseDueEmails(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [LeasedEmail] {
        let at = now.milliseconds
        let expiry = now.adding(duration).milliseconds
        let due = try await transaction { [logger] connection -> [DueEmail] in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT id, tenant, created_at, queued_at, due_at, rounds, attempts, lease_token, pending_attempt,
                        pending_provider, pending_started_at, metadata_only
                    FROM emails WHERE due_at <= \(at) ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ), leased AS (
                    UPDATE emails SET status = 'sending', lease_owner = \(owner), lease_token = emails.lease_token + 1,
                        rounds = emails.rounds + 1, due_at = \(expiry), updated_at = \(at), pending_attempt = NULL,
                        pending_provider = NULL, pending_started_at = NULL
                    FROM due WHERE emails.id = due.id
                )
                SELECT due.id, due.tenant, due.created_at, due.queued_at, due.rounds, due.lease_token, due.attempts,
                    due.pending_attempt, due.pending_provider, due.pending_started_at, due.metadata_only, content.message,
                    content.text, content.html
                FROM due JOIN email_contents AS content ON content.email_id = due.id
                ORDER BY due.due_at
                """,
                logger: logger
            ).collect()
            let due = try rows.decode(
                (String, String, Int64, Int64, Int, Int64, Int, Int?, String?, Int64?, Bool, Data, String?, String?).self
            ).map {
                id, tenant, createdAt, queuedAt, rounds, leaseToken, attempts, pending, provider, startedAt, metadataOnly, fields, text,
                html in
                DueEmail(
                    id: id, tenant: tenant, content: StoredContent(fields: fields, text: text, html: html), createdAt: createdAt,
                    queuedAt: queuedAt, rounds: rounds, leaseToken: leaseToken, attempts: attempts,
                    pendingAttempt: pending.map { DueEmail.PendingAttempt(number: $0, provider: provider, startedAt: startedAt) },
                    metadataOnly: metadataOnly)
            }
            let interrupted = due.compactMap { email in email.pendingAttempt.map { (email.id, InterruptedAttempt($0, at: at)) } }
            if !interrupted.isEmpty { try await Self.record(interrupted, at: at, on: connection, logger: logger) }
            return due
        }
        return try await DueEmail.leased(due) { recipientsByTenant in
            let rows = try await self.query(
                """
                SELECT suppression.tenant, suppression.address
                FROM unnest(\(Array(recipientsByTenant.flatMap { tenant, addresses in addresses.map { _ in tenant } }))::text[],
                    \(Array(recipientsByTenant.flatMap { _, addresses in addresses }))::text[]) AS recipient (tenant, address)
                JOIN suppressions AS suppression ON suppression.tenant = recipient.tenant AND suppression.address = recipient.address
                """)
            var suppressed: [String: Set<String>] = [:]
            for (tenant, address) in try rows.decode((String, String).self) { suppressed[tenant, default: []].insert(address) }
            return suppressed
        }
    }

    /// Writes the attempts that leases running out cut short, with their events, in one statement.
    private static func record(
        _ interrupted: [(emailID: String, attempt: InterruptedAttempt)], at: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let ids = interrupted.map(\.emailID)
        let numbers = interrupted.map { Int64($0.attempt.number) }
        let providers = interrupted.map(\.attempt.provider)
        try await connection.execute(
            """
            WITH attempt AS (
                INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message)
                SELECT id, number, provider, started_at, latency_ms, 'failed', \(InterruptedAttempt.errorClass.rawValue),
                    \(InterruptedAttempt.code), \(InterruptedAttempt.message)
                FROM unnest(\(ids)::text[], \(numbers)::integer[], \(providers)::text[],
                    \(interrupted.map(\.attempt.startedAt))::bigint[], \(interrupted.map(\.attempt.latencyMilliseconds))::bigint[])
                    AS interrupted (id, number, provider, started_at, latency_ms)
            )
            INSERT INTO events (email_id, kind, at, attempt, provider, detail)
            SELECT id, \(EmailEvent.Kind.attemptFailed.rawValue), \(at), number, provider, \(InterruptedAttempt.code)
            FROM unnest(\(ids)::text[], \(numbers)::integer[], \(providers)::text[]) WITH ORDINALITY AS interrupted (id, number, provider, position)
            ORDER BY position
            """,
            logger: logger)
    }

    static let sendCountShards = 16

    /// The counter row an email's counts go to, of ``sendCountShards``.
    static func shard(of emailID: EmailID) -> Int16 {
        Int16(emailID.rawValue.utf8.last.map { Int($0) % sendCountShards } ?? 0)
    }

    /// Adds `times` to `kind`'s count of the minute of `date`, in the caller's transaction, in
    /// shard `shard` of the minute's slot (``ActivityMinutes``), so that nodes counting at
    /// once seldom wait for each other's row. A slot left from a day before starts over.
    static func countActivity(
        _ kind: ActivityKind, at date: Date, times: Int = 1, shard: Int16, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let minute = ActivityMinutes.minute(of: date)
        try await connection.execute(
            """
            INSERT INTO activity_minutes (slot, kind, shard, minute, count)
            VALUES (\(ActivityMinutes.slot(of: minute)), \(kind.rawValue), \(shard), \(minute), \(Int64(times)))
            ON CONFLICT (slot, kind, shard) DO UPDATE SET \(unescaped: activityCountUpdate)
            """,
            logger: logger)
    }

    /// How a count meets the one already in its slot: added to it in the same minute, in
    /// place of it when the slot still holds a minute of a day before.
    static let activityCountUpdate = """
        count = CASE WHEN activity_minutes.minute = excluded.minute THEN activity_minutes.count + excluded.count
            ELSE excluded.count END,
        minute = excluded.minute
        """

    public func activity(since: Date) async throws -> [ActivityCount] {
        let rows = try await query(
            """
            SELECT minute, kind, sum(count)::bigint FROM activity_minutes WHERE minute >= \(ActivityMinutes.minute(of: since))
            GROUP BY minute, kind ORDER BY minute, kind
            """)
        return try rows.decode((Int64, String, Int64).self).compactMap { minute, kind, count in
            ActivityKind(rawValue: kind).map {
                ActivityCount(minute: Date(timeIntervalSince1970: Double(minute) * 60), kind: $0, count: Int(count))
            }
        }
    }

    public func providerStates() async throws -> [ProviderStateRecord] {
        let rows = try await query(
            "SELECT provider, paused, breaker_open_until, throttled_until FROM provider_state ORDER BY provider")
        var states: [ProviderStateRecord] = []
        for (provider, paused, openUntil, throttledUntil) in try rows.decode((String, Bool, Int64?, Int64?).self) {
            states.append(
                ProviderStateRecord(
                    provider: provider, paused: paused, breakerOpenUntil: openUntil.map(Date.init(milliseconds:)),
                    throttledUntil: throttledUntil.map(Date.init(milliseconds:))))
        }
        return states
    }

    /// Tells the other nodes in the same statement, so that a breaker one opens holds on all of
    /// them as soon as it commits rather than at their next poll.
    public func saveProviderState(_ state: ProviderStateRecord) async throws {
        try await committed(
            """
            WITH saved AS (
                INSERT INTO provider_state (provider, paused, breaker_open_until, throttled_until, updated_at)
                VALUES (\(state.provider), \(state.paused), \(state.breakerOpenUntil?.milliseconds),
                    \(state.throttledUntil?.milliseconds), \(Date().milliseconds))
                ON CONFLICT (provider) DO UPDATE SET paused = excluded.paused, breaker_open_until = excluded.breaker_open_until,
                    throttled_until = excluded.throttled_until, updated_at = excluded.updated_at
                RETURNING provider
            )
            SELECT pg_notify(\(Self.providerStatesChannel), '') FROM saved
            """)
    }

    public func sendCounts(at now: Date) async throws -> [String: [SendQuota.Period: Int]] {
        var counts: [String: [SendQuota.Period: Int]] = [:]
        for period in SendQuota.Period.allCases {
            let rows = try await query(
                """
                SELECT provider, sum(count)::bigint FROM provider_sends
                WHERE period = \(period.rawValue) AND period_start = \(period.start(containing: now).milliseconds)
                GROUP BY provider
                """)
            for (provider, count) in try rows.decode((String, Int).self) { counts[provider, default: [:]][period] = count }
        }
        return counts
    }
}
