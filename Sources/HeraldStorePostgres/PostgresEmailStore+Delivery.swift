import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Takes due emails that no other node holds: rows another transaction has locked are
    /// skipped rather than waited for, so that nodes leasing at once each get their own. One
    /// statement leases them, records the attempts that a lease running out cut short, and
    /// reads their contents.
    public func leaseDueEmails(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [LeasedEmail] {
        let at = now.milliseconds
        let expiry = now.adding(duration).milliseconds
        let rows = try await committed(
            """
            WITH due AS (
                SELECT id, tenant, created_at, queued_at, due_at, rounds, attempts, lease_token, pending_attempt,
                    COALESCE(pending_provider, 'unknown') AS pending_provider, COALESCE(pending_started_at, \(at)) AS pending_started_at
                FROM emails WHERE due_at <= \(at) ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ), leased AS (
                UPDATE emails SET status = 'sending', lease_owner = \(owner), lease_token = emails.lease_token + 1,
                    rounds = emails.rounds + 1, due_at = \(expiry), updated_at = \(at), pending_attempt = NULL,
                    pending_provider = NULL, pending_started_at = NULL
                FROM due WHERE emails.id = due.id
            ), interrupted AS (
                -- An attempt that started under a lease that then ran out: the node stopped or hung
                -- mid-call, so the provider may or may not have the email.
                INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message)
                SELECT id, pending_attempt, pending_provider, pending_started_at, \(at) - pending_started_at, 'failed',
                    \(ErrorClass.ambiguous.rawValue), 'interrupted', 'the attempt was interrupted before its outcome was recorded'
                FROM due WHERE pending_attempt IS NOT NULL
            ), interrupted_event AS (
                INSERT INTO events (email_id, kind, at, attempt, provider, detail)
                SELECT id, \(EmailEvent.Kind.attemptFailed.rawValue), \(at), pending_attempt, pending_provider, 'interrupted'
                FROM due WHERE pending_attempt IS NOT NULL
            )
            SELECT due.id, due.tenant, due.created_at, due.queued_at, due.lease_token + 1, due.rounds + 1, due.attempts,
                content.message, content.text, content.html
            FROM due JOIN email_contents AS content ON content.email_id = due.id
            ORDER BY due.due_at
            """)
        let due = try rows.decode((String, String, Int64, Int64, Int64, Int, Int, Data, String?, String?).self)
            .map { id, tenant, createdAt, queuedAt, leaseToken, round, attemptsSoFar, fields, text, html in
                DueEmail(
                    id: id, tenant: tenant, createdAt: createdAt, queuedAt: queuedAt, leaseToken: leaseToken, round: round,
                    attemptsSoFar: attemptsSoFar, content: StoredContent(fields: fields, text: text, html: html))
            }

        var leased = try due.compactMap { email -> (tenant: String, email: LeasedEmail)? in
            guard let id = EmailID(email.id) else { return nil }
            let content = email.content
            let leased = LeasedEmail(
                id: id, message: try content.message(), acceptedAt: Date(milliseconds: email.createdAt),
                queuedAt: Date(milliseconds: email.queuedAt), leaseToken: email.leaseToken, round: email.round,
                attemptsSoFar: email.attemptsSoFar)
            return (email.tenant, leased)
        }
        let suppressed = try await suppressedRecipients(of: leased)
        for index in leased.indices {
            let recipients = leased[index].email.message.recipients.map { Suppression.key(of: $0.address) }
            leased[index].email.suppressedRecipients = Set(recipients.filter { suppressed.contains(.init(leased[index].tenant, $0)) })
        }
        return leased.map(\.email)
    }

    /// A leased row; its message is decoded once the statement has returned.
    private struct DueEmail: Sendable {
        let id: String
        let tenant: String
        let createdAt: Int64
        let queuedAt: Int64
        let leaseToken: Int64
        let round: Int
        let attemptsSoFar: Int
        let content: StoredContent
    }

    private struct TenantAddress: Hashable {
        let tenant: String
        let address: String

        init(_ tenant: String, _ address: String) {
            self.tenant = tenant
            self.address = address
        }
    }

    /// Which recipients of `emails` are on their tenant's suppression list.
    private func suppressedRecipients(of emails: [(tenant: String, email: LeasedEmail)]) async throws -> Set<TenantAddress> {
        let addresses = Set(emails.flatMap { $0.email.message.recipients.map { Suppression.key(of: $0.address) } })
        guard !addresses.isEmpty else { return [] }
        let tenants = Array(Set(emails.map(\.tenant)))
        let rows = try await query(
            "SELECT tenant, address FROM suppressions WHERE tenant = ANY(\(tenants)) AND address = ANY(\(Array(addresses)))")
        var suppressed: Set<TenantAddress> = []
        for (tenant, address) in try rows.decode((String, String).self) { suppressed.insert(.init(tenant, address)) }
        return suppressed
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
