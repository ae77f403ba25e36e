import Foundation
import HeraldCore
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Takes due emails that no other node holds: rows another transaction has locked are
    /// skipped rather than waited for, so that nodes leasing at once each get their own.
    public func leaseDueEmails(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [LeasedEmail] {
        let at = now.milliseconds
        let expiry = now.adding(duration).milliseconds
        let due = try await transaction { [self] connection -> [DueEmail] in
            let rows = try await connection.query(
                """
                SELECT id, tenant, created_at, queued_at, rounds, attempts, lease_token, pending_attempt, pending_provider,
                    pending_started_at
                FROM emails WHERE due_at <= \(at) ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """,
                logger: logger
            ).collect()
            guard !rows.isEmpty else { return [] }
            var due: [String: DueEmail] = [:]
            var dueOrder: [String] = []
            for row in rows.map({ $0.makeRandomAccess() }) {
                let id = try row["id"].decode(String.self)
                dueOrder.append(id)
                if let pending = try row["pending_attempt"].decode(Int?.self) {
                    try await recordInterruptedAttempt(
                        connection, emailID: id, number: pending, provider: try row["pending_provider"].decode(String?.self),
                        startedAt: try row["pending_started_at"].decode(Int64?.self), at: at)
                }
                due[id] = DueEmail(
                    id: id, tenant: try row["tenant"].decode(String.self), createdAt: try row["created_at"].decode(Int64.self),
                    queuedAt: try row["queued_at"].decode(Int64.self), leaseToken: try row["lease_token"].decode(Int64.self) + 1,
                    round: try row["rounds"].decode(Int.self) + 1, attemptsSoFar: try row["attempts"].decode(Int.self))
            }
            let ids = dueOrder
            try await connection.execute(
                """
                UPDATE emails SET status = 'sending', lease_owner = \(owner), lease_token = lease_token + 1, rounds = rounds + 1,
                    due_at = \(expiry), updated_at = \(at), pending_attempt = NULL, pending_provider = NULL, pending_started_at = NULL
                WHERE id = ANY(\(ids))
                """,
                logger: logger)
            let contents = try await connection.query(
                "SELECT email_id, message, text, html FROM email_contents WHERE email_id = ANY(\(ids))", logger: logger)
            for try await (id, fields, text, html) in contents.decode((String, Data, String?, String?).self) {
                due[id]?.content = StoredContent(fields: fields, text: text, html: html)
            }
            return dueOrder.compactMap { due[$0] }
        }

        var leased = try due.compactMap { email -> (tenant: String, email: LeasedEmail)? in
            guard let id = EmailID(email.id), let content = email.content else { return nil }
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

    /// A leased row, taken out of the transaction; its message is decoded outside it.
    private struct DueEmail: Sendable {
        let id: String
        let tenant: String
        let createdAt: Int64
        let queuedAt: Int64
        let leaseToken: Int64
        let round: Int
        let attemptsSoFar: Int
        var content: StoredContent?
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

    /// An attempt that started under a lease that then ran out: the node stopped or hung
    /// mid-call, so the provider may or may not have the email.
    private func recordInterruptedAttempt(
        _ connection: PostgresConnection, emailID: String, number: Int, provider: String?, startedAt: Int64?, at: Int64
    ) async throws {
        let provider = provider ?? "unknown"
        let startedAt = startedAt ?? at
        try await connection.execute(
            """
            INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message)
            VALUES (\(emailID), \(number), \(provider), \(startedAt), \(at - startedAt), 'failed', \(ErrorClass.ambiguous.rawValue),
                'interrupted', 'the attempt was interrupted before its outcome was recorded')
            """,
            logger: logger)
        try await Self.appendEvents(
            connection, emailIDs: [emailID], kind: .attemptFailed, at: at, attempt: number, provider: provider, detail: "interrupted",
            logger: logger)
    }

    public func record(_ progress: DeliveryProgress) async throws {
        let id = progress.emailID.rawValue
        let at = progress.at.milliseconds
        try await transaction { [self] connection in
            let rows = try await connection.query(
                "SELECT status, lease_token, tenant FROM emails WHERE id = \(id) FOR UPDATE", logger: logger)
            var current: (status: String, leaseToken: Int64, tenant: String)?
            for try await row in rows.decode((String, Int64, String).self) { current = row }
            guard let current, current.status == EmailStatus.sending.rawValue, current.leaseToken == progress.leaseToken else {
                throw StoreError.leaseLost
            }

            if !progress.suppressedRecipients.isEmpty {
                try await Self.appendEvents(
                    connection, emailIDs: [id], kind: .suppressed, at: at, detail: progress.suppressedRecipients.joined(separator: ", "),
                    logger: logger)
            }
            for refused in progress.suppressing {
                let suppression = Suppression(
                    address: refused.address, reason: "\(refused.failure.reason): \(refused.failure.message)", source: .delivery,
                    emailID: progress.emailID, createdAt: progress.at)
                try await Self.insert(suppression, tenant: current.tenant, on: connection, logger: logger)
            }
            if let attempt = progress.finishedAttempt {
                try await connection.execute(
                    """
                    INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message,
                        routing)
                    VALUES (\(id), \(attempt.number), \(attempt.provider), \(attempt.startedAt.milliseconds),
                        \(attempt.latencyMilliseconds), \(attempt.outcome.rawValue), \(attempt.errorClass?.rawValue), \(attempt.errorCode),
                        \(attempt.message), \(attempt.routing))
                    ON CONFLICT (email_id, number) DO NOTHING
                    """,
                    logger: logger)
                if attempt.outcome == .failed {
                    try await Self.appendEvents(
                        connection, emailIDs: [id], kind: .attemptFailed, at: at, attempt: attempt.number, provider: attempt.provider,
                        detail: [attempt.errorClass?.rawValue, attempt.errorCode].compactMap { $0 }.joined(separator: ":"),
                        logger: logger)
                }
            }

            switch progress.next {
            case .attempt(let number, let provider):
                try await connection.execute(
                    """
                    UPDATE emails SET attempts = \(number), pending_attempt = \(number), pending_provider = \(provider),
                        pending_started_at = \(at), updated_at = \(at)
                    WHERE id = \(id)
                    """,
                    logger: logger)
                try await Self.appendEvents(
                    connection, emailIDs: [id], kind: .attemptStarted, at: at, attempt: number, provider: provider, logger: logger)
            case .sent(let provider, let providerMessageID):
                try await finish(connection, id: id, status: .sent, at: at, provider: provider, providerMessageID: providerMessageID)
                try await Self.appendEvents(connection, emailIDs: [id], kind: .sent, at: at, provider: provider, logger: logger)
                try await countSend(connection, provider: provider, emailID: progress.emailID, at: progress.at)
                try await Self.enqueueWebhooks(
                    [
                        WebhookTrigger(
                            type: .sent, emailID: progress.emailID, at: progress.at, provider: provider,
                            providerMessageID: providerMessageID)
                    ], tenant: current.tenant, on: connection, logger: logger)
            case .deferred(let until, let reason):
                try await finish(connection, id: id, status: .deferred, at: at, dueAt: until.milliseconds, reason: reason)
                try await Self.appendEvents(connection, emailIDs: [id], kind: .deferred, at: at, detail: reason, logger: logger)
            case .waiting(let until, let reason):
                try await finish(connection, id: id, status: .deferred, at: at, dueAt: until.milliseconds, reason: reason)
                try await connection.execute("UPDATE emails SET rounds = rounds - 1 WHERE id = \(id)", logger: logger)
                try await Self.appendEvents(connection, emailIDs: [id], kind: .deferred, at: at, detail: reason, logger: logger)
            case .failed(let reason):
                try await finish(connection, id: id, status: .failed, at: at, reason: reason)
                try await Self.appendEvents(connection, emailIDs: [id], kind: .failed, at: at, detail: reason, logger: logger)
                try await Self.countActivity(
                    .failed, at: progress.at, shard: Self.shard(of: progress.emailID), on: connection, logger: logger)
                try await Self.enqueueWebhooks(
                    [WebhookTrigger(type: .failed, emailID: progress.emailID, at: progress.at, reason: reason)], tenant: current.tenant,
                    on: connection, logger: logger)
            case .suppressed:
                let reason = "every recipient is suppressed"
                try await finish(connection, id: id, status: .suppressed, at: at, reason: reason)
                try await Self.enqueueWebhooks(
                    [WebhookTrigger(type: .suppressed, emailID: progress.emailID, at: progress.at, reason: reason)], tenant: current.tenant,
                    on: connection, logger: logger)
            }
        }
    }

    /// Ends a round: the lease is given up and any pending attempt is settled.
    private func finish(
        _ connection: PostgresConnection, id: String, status: EmailStatus, at: Int64, dueAt: Int64? = nil, provider: String? = nil,
        providerMessageID: String? = nil, reason: String? = nil
    ) async throws {
        try await connection.execute(
            """
            UPDATE emails SET status = \(status.rawValue), updated_at = \(at), due_at = \(dueAt), next_attempt_at = \(dueAt),
                lease_owner = NULL, pending_attempt = NULL, pending_provider = NULL, pending_started_at = NULL,
                provider = COALESCE(\(provider), provider), provider_message_id = COALESCE(\(providerMessageID), provider_message_id),
                failure_reason = \(reason)
            WHERE id = \(id)
            """,
            logger: logger)
    }

    /// Counts a send in the provider's day and month and in its minute's activity, in the
    /// transaction that marks it sent and in one statement (a delivery waits for each round
    /// trip), in one of ``sendCountShards`` rows chosen by the email's id: concurrent deliveries
    /// seldom wait for each other's row.
    private func countSend(_ connection: PostgresConnection, provider: String, emailID: EmailID, at date: Date) async throws {
        let shard = Self.shard(of: emailID)
        let periods = SendQuota.Period.allCases
        let minute = ActivityMinutes.minute(of: date)
        try await connection.execute(
            """
            WITH activity AS (
                INSERT INTO activity_minutes (slot, kind, shard, minute, count)
                VALUES (\(ActivityMinutes.slot(of: minute)), \(ActivityKind.sent.rawValue), \(shard), \(minute), 1)
                ON CONFLICT (slot, kind, shard) DO UPDATE SET \(unescaped: Self.activityCountUpdate)
            )
            INSERT INTO provider_sends (provider, period, period_start, shard, count)
            SELECT \(provider), period, period_start, \(shard), 1
            FROM unnest(\(periods.map(\.rawValue))::text[], \(periods.map { $0.start(containing: date).milliseconds })::bigint[])
                AS sends(period, period_start)
            ON CONFLICT (provider, period, period_start, shard) DO UPDATE SET count = provider_sends.count + 1
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
            GROUP BY minute, kind ORDER BY minute
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
        try await query(
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
