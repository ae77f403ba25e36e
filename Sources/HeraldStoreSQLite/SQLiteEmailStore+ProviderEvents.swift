import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore: ProviderEventStore {
    public func record(_ events: [ProviderEvent], receivedAt: Date, policy: EventSuppressionPolicy) async throws -> [ProviderEventOutcome] {
        let outcomes = Outcomes()
        try await groupCommit.perform { db, tally in
            var recorded: [ProviderEventOutcome] = []
            for event in events { recorded.append(try Self.record(event, receivedAt: receivedAt, policy: policy, in: db)) }
            let bounces = zip(events, recorded).count { $0.kind == .bounced && $1 == .recorded }
            if bounces > 0 { tally.count(.bounced, at: receivedAt, times: bounces) }
            for (provider, count) in Dictionary(grouping: zip(events, recorded).filter { $0.1 == .recorded }, by: \.0.provider) {
                try Self.count(provider: provider, events: count.count, refused: 0, at: receivedAt, in: db)
            }
            outcomes.value = recorded
        }
        return outcomes.value
    }

    /// Carries the outcomes out of the group commit's closure, which runs once on the writer
    /// before `perform` returns.
    private final class Outcomes: @unchecked Sendable {
        var value: [ProviderEventOutcome] = []
    }

    private static func record(
        _ event: ProviderEvent, receivedAt: Date, policy: EventSuppressionPolicy, in db: Database
    ) throws -> ProviderEventOutcome {
        let match: Row?
        if let emailID = event.emailID {
            match = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, tenant FROM emails WHERE id = ?"), arguments: [emailID.rawValue])
        } else if let providerMessageID = event.providerMessageID {
            match = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, tenant FROM emails WHERE provider_message_id = ? AND provider = ?"),
                arguments: [providerMessageID, event.provider])
        } else {
            match = nil
        }
        guard let match, let emailID = EmailID(match["id"] as String) else { return .unmatched }
        let tenant: String = match["tenant"]
        let recipient = event.recipient.map(Suppression.key(of:))
        try db.executeCached(
            sql: """
                INSERT INTO provider_events (provider, event_id, email_id, tenant, kind, recipient, occurred_at, received_at,
                    bounce_severity, bounce_classification, diagnostic, detail, payload)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (provider, event_id) DO NOTHING
                """,
            arguments: [
                event.provider, event.id, emailID.rawValue, tenant, event.kind.rawValue, recipient, event.occurredAt.milliseconds,
                receivedAt.milliseconds, event.bounce?.severity.rawValue, event.bounce?.classification, event.bounce?.diagnostic,
                event.detail, Data(event.payload),
            ])
        guard db.changesCount == 1 else { return .duplicate }
        if let type = WebhookEventType(event.kind) {
            try enqueueWebhooks([WebhookTrigger(type: type, emailID: emailID, at: event.occurredAt, event: event)], tenant: tenant, in: db)
        }
        guard let recipient else { return .recorded }

        let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM recipients WHERE email_id = ? AND address = ?"),
            arguments: [emailID.rawValue, recipient]
        ).flatMap(recipientState(from:))
        let effects = try ProviderEventEffects(of: event, emailID: emailID, current: current, policy: policy) { since in
            try Int.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT count(*) FROM provider_events WHERE tenant = ? AND recipient = ? AND occurred_at >= ?
                            AND kind = 'bounced' AND bounce_severity IS NOT 'hard'
                        """),
                arguments: [tenant, recipient, since.milliseconds]) ?? 0
        }
        if let state = effects.recipientState {
            try db.executeCached(
                sql: """
                    INSERT INTO recipients (email_id, address, phase, updated_at, bounce_severity, bounce_classification, diagnostic)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (email_id, address) DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at,
                        bounce_severity = excluded.bounce_severity, bounce_classification = excluded.bounce_classification,
                        diagnostic = excluded.diagnostic
                    """,
                arguments: [
                    emailID.rawValue, state.address, state.phase.rawValue, state.updatedAt.milliseconds, state.bounce?.severity.rawValue,
                    state.bounce?.classification, state.bounce?.diagnostic,
                ])
        }
        if let suppression = effects.suppression { try insert(suppression, tenant: tenant, into: db) }
        return .recorded
    }

    public func countRefusedEventRequest(provider: String, at: Date) async throws {
        try await groupCommit.perform { db in try Self.count(provider: provider, events: 0, refused: 1, at: at, in: db) }
    }

    private static func count(provider: String, events: Int, refused: Int, at: Date, in db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO provider_event_counts (provider, hour_start, events, refused, last_event_at) VALUES (?1, ?2, ?3, ?4, ?5)
                ON CONFLICT (provider, hour_start) DO UPDATE SET events = events + ?3, refused = refused + ?4,
                    last_event_at = COALESCE(MAX(last_event_at, ?5), last_event_at, ?5)
                """,
            arguments: [provider, ProviderEventStatistics.hourStart(of: at), events, refused, events > 0 ? at.milliseconds : nil])
    }

    public func eventStatistics(since: Date) async throws -> [String: ProviderEventStatistics] {
        try await pool.read { db in
            var statistics: [String: ProviderEventStatistics] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT provider, SUM(CASE WHEN hour_start >= ?1 THEN events ELSE 0 END) AS events,
                        SUM(CASE WHEN hour_start >= ?1 THEN refused ELSE 0 END) AS refused, MAX(last_event_at) AS last_event_at
                    FROM provider_event_counts GROUP BY provider
                    """,
                arguments: [ProviderEventStatistics.hourStart(of: since)])
            for row in rows {
                statistics[row["provider"]] = ProviderEventStatistics(
                    events: row["events"], refusedRequests: row["refused"],
                    lastEventAt: (row["last_event_at"] as Int64?).map(Date.init(milliseconds:)))
            }
            return statistics
        }
    }

    static func providerEvents(of emailID: String, in db: Database) throws -> [RecordedProviderEvent] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM provider_events WHERE email_id = ? ORDER BY occurred_at, received_at", arguments: [emailID]
        )
        .map { row in
            let emailID: String = row["email_id"]
            let payload: Data = row["payload"]
            let event = ProviderEvent(
                id: row["event_id"], provider: row["provider"], kind: ProviderEvent.Kind(rawValue: row["kind"]) ?? .unknown,
                occurredAt: Date(milliseconds: row["occurred_at"]), recipient: row["recipient"], emailID: EmailID(emailID),
                bounce: bounce(from: row), detail: row["detail"], payload: Array(payload))
            return RecordedProviderEvent(event: event, receivedAt: Date(milliseconds: row["received_at"]))
        }
    }

    static func recipientStates(of emailID: String, in db: Database) throws -> [RecipientState] {
        try Row.fetchAll(db, sql: "SELECT * FROM recipients WHERE email_id = ? ORDER BY address", arguments: [emailID])
            .compactMap(recipientState(from:))
    }

    private static func recipientState(from row: Row) -> RecipientState? {
        guard let phase = RecipientState.Phase(rawValue: row["phase"]) else { return nil }
        return RecipientState(
            address: row["address"], phase: phase, updatedAt: Date(milliseconds: row["updated_at"]), bounce: bounce(from: row))
    }

    private static func bounce(from row: Row) -> ProviderEvent.Bounce? {
        guard let severity = (row["bounce_severity"] as String?).flatMap(ProviderEvent.Bounce.Severity.init(rawValue:)) else {
            return nil
        }
        return ProviderEvent.Bounce(severity: severity, classification: row["bounce_classification"] ?? "", diagnostic: row["diagnostic"])
    }
}
