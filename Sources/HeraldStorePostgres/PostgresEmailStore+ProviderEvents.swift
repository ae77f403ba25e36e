import Foundation
import HeraldCore
import Logging
import PostgresNIO

extension PostgresEmailStore: ProviderEventStore {
    public func record(_ events: [ProviderEvent], receivedAt: Date, policy: EventSuppressionPolicy) async throws -> [ProviderEventOutcome] {
        try await transaction { [logger] connection in
            var outcomes: [ProviderEventOutcome] = []
            for event in events {
                outcomes.append(try await Self.record(event, receivedAt: receivedAt, policy: policy, on: connection, logger: logger))
            }
            for (provider, recorded) in Dictionary(grouping: zip(events, outcomes).filter { $0.1 == .recorded }, by: \.0.provider) {
                try await Self.count(provider: provider, events: recorded.count, refused: 0, at: receivedAt, on: connection, logger: logger)
            }
            let bounces = zip(events, outcomes).count { $0.kind == .bounced && $1 == .recorded }
            if bounces > 0 {
                try await Self.countActivity(
                    .bounced, at: receivedAt, times: bounces, shard: Int16.random(in: 0..<Int16(Self.sendCountShards)),
                    on: connection, logger: logger)
            }
            return outcomes
        }
    }

    private static func record(
        _ event: ProviderEvent, receivedAt: Date, policy: EventSuppressionPolicy, on connection: PostgresConnection, logger: Logger
    ) async throws -> ProviderEventOutcome {
        let matches: [PostgresRow]
        if let emailID = event.emailID {
            matches = try await connection.query("SELECT id, tenant FROM emails WHERE id = \(emailID.rawValue)", logger: logger).collect()
        } else if let providerMessageID = event.providerMessageID {
            matches = try await connection.query(
                "SELECT id, tenant FROM emails WHERE provider_message_id = \(providerMessageID) AND provider = \(event.provider)",
                logger: logger
            ).collect()
        } else {
            matches = []
        }
        guard let (id, tenant) = try matches.decode((String, String).self).first, let emailID = EmailID(id) else { return .unmatched }
        let recipient = event.recipient.map(Suppression.key(of:))
        let inserted = try await connection.query(
            """
            INSERT INTO provider_events (provider, event_id, email_id, tenant, kind, recipient, occurred_at, received_at,
                bounce_severity, bounce_classification, diagnostic, detail, payload)
            VALUES (\(event.provider), \(event.id), \(id), \(tenant), \(event.kind.rawValue), \(recipient),
                \(event.occurredAt.milliseconds), \(receivedAt.milliseconds), \(event.bounce?.severity.rawValue),
                \(event.bounce?.classification), \(event.bounce?.diagnostic), \(event.detail), \(ByteBuffer(bytes: event.payload)))
            ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id
            """,
            logger: logger
        ).collect()
        guard !inserted.isEmpty else { return .duplicate }
        if let type = WebhookEventType(event.kind) {
            try await enqueueWebhook(
                WebhookTrigger(type: type, emailID: emailID, at: event.occurredAt, event: event), on: connection, logger: logger)
        }
        guard let recipient else { return .recorded }

        let current = try await connection.query(
            "\(unescaped: recipientColumns) WHERE email_id = \(id) AND address = \(recipient)", logger: logger
        ).collect().decode(RecipientRow.self).first.flatMap(recipientState(from:))
        var softBounces = 0
        if case .countSoftBounce(_, let since) = policy.verdict(for: event) {
            softBounces =
                try await connection.query(
                    """
                    SELECT count(*) FROM provider_events WHERE tenant = \(tenant) AND recipient = \(recipient)
                        AND occurred_at >= \(since.milliseconds) AND kind = 'bounced' AND bounce_severity IS DISTINCT FROM 'hard'
                    """,
                    logger: logger
                ).collect().decode(Int.self).first ?? 0
        }
        let effects = ProviderEventEffects(of: event, emailID: emailID, current: current, policy: policy) { _ in softBounces }
        if let state = effects.recipientState {
            try await connection.execute(
                """
                INSERT INTO recipients (email_id, address, phase, updated_at, bounce_severity, bounce_classification, diagnostic)
                VALUES (\(id), \(state.address), \(state.phase.rawValue), \(state.updatedAt.milliseconds),
                    \(state.bounce?.severity.rawValue), \(state.bounce?.classification), \(state.bounce?.diagnostic))
                ON CONFLICT (email_id, address) DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at,
                    bounce_severity = excluded.bounce_severity, bounce_classification = excluded.bounce_classification,
                    diagnostic = excluded.diagnostic
                """,
                logger: logger)
        }
        if let suppression = effects.suppression {
            try await insert(suppression, tenant: tenant, on: connection, logger: logger)
        }
        return .recorded
    }

    public func countRefusedEventRequest(provider: String, at: Date) async throws {
        try await withConnection { [logger] connection in
            try await Self.count(provider: provider, events: 0, refused: 1, at: at, on: connection, logger: logger)
        }
    }

    private static func count(
        provider: String, events: Int, refused: Int, at: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let lastEventAt = events > 0 ? at.milliseconds : nil
        try await connection.execute(
            """
            INSERT INTO provider_event_counts AS counts (provider, hour_start, events, refused, last_event_at)
            VALUES (\(provider), \(ProviderEventStatistics.hourStart(of: at)), \(events), \(refused), \(lastEventAt))
            ON CONFLICT (provider, hour_start) DO UPDATE SET events = counts.events + excluded.events,
                refused = counts.refused + excluded.refused,
                last_event_at = GREATEST(counts.last_event_at, excluded.last_event_at)
            """,
            logger: logger)
    }

    public func eventStatistics(since: Date) async throws -> [String: ProviderEventStatistics] {
        let from = ProviderEventStatistics.hourStart(of: since)
        let rows = try await query(
            """
            SELECT provider, SUM(CASE WHEN hour_start >= \(from) THEN events ELSE 0 END)::BIGINT,
                SUM(CASE WHEN hour_start >= \(from) THEN refused ELSE 0 END)::BIGINT, MAX(last_event_at)
            FROM provider_event_counts GROUP BY provider
            """)
        var statistics: [String: ProviderEventStatistics] = [:]
        for (provider, events, refused, lastEventAt) in try rows.decode((String, Int64, Int64, Int64?).self) {
            statistics[provider] = ProviderEventStatistics(
                events: Int(events), refusedRequests: Int(refused), lastEventAt: lastEventAt.map(Date.init(milliseconds:)))
        }
        return statistics
    }

    static func providerEvents(of emailID: String, on connection: PostgresConnection, logger: Logger) async throws
        -> [RecordedProviderEvent]
    {
        let rows = try await connection.query(
            """
            SELECT provider, event_id, kind, recipient, occurred_at, received_at, bounce_severity, bounce_classification,
                diagnostic, detail, payload
            FROM provider_events WHERE email_id = \(emailID) ORDER BY occurred_at, received_at
            """,
            logger: logger
        ).collect()
        typealias Row = (String, String, String, String?, Int64, Int64, String?, String?, String?, String?, ByteBuffer)
        return try rows.decode(Row.self).map { row in
            let event = ProviderEvent(
                id: row.1, provider: row.0, kind: ProviderEvent.Kind(rawValue: row.2) ?? .unknown,
                occurredAt: Date(milliseconds: row.4), recipient: row.3, emailID: EmailID(emailID),
                bounce: bounce(severity: row.6, classification: row.7, diagnostic: row.8), detail: row.9,
                payload: Array(row.10.readableBytesView))
            return RecordedProviderEvent(event: event, receivedAt: Date(milliseconds: row.5))
        }
    }

    static func recipientStates(of emailID: String, on connection: PostgresConnection, logger: Logger) async throws -> [RecipientState] {
        try await connection.query("\(unescaped: recipientColumns) WHERE email_id = \(emailID) ORDER BY address", logger: logger)
            .collect().decode(RecipientRow.self).compactMap(recipientState(from:))
    }

    private typealias RecipientRow = (String, String, Int64, String?, String?, String?)
    private static let recipientColumns =
        "SELECT address, phase, updated_at, bounce_severity, bounce_classification, diagnostic FROM recipients"

    private static func recipientState(from row: RecipientRow) -> RecipientState? {
        guard let phase = RecipientState.Phase(rawValue: row.1) else { return nil }
        return RecipientState(
            address: row.0, phase: phase, updatedAt: Date(milliseconds: row.2),
            bounce: bounce(severity: row.3, classification: row.4, diagnostic: row.5))
    }

    private static func bounce(severity: String?, classification: String?, diagnostic: String?) -> ProviderEvent.Bounce? {
        guard let severity = severity.flatMap(ProviderEvent.Bounce.Severity.init(rawValue:)) else { return nil }
        return ProviderEvent.Bounce(severity: severity, classification: classification ?? "", diagnostic: diagnostic)
    }
}
