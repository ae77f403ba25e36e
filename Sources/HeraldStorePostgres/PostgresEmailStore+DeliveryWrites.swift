import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import NIOCore
import PostgresNIO

extension PostgresEmailStore {
    /// In the next batch of delivery records (``deliveries``): the rounds of many emails that
    /// report at once share one transaction.
    public func record(_ progress: DeliveryProgress) async throws {
        try await deliveries.perform([DeliveryWrite(progress)])
    }

    /// Batches of delivery records written at once, each on a connection of its own: a round
    /// waits for two records, and with one batch at a time 64 rounds in flight delivered 2,010
    /// emails/s against 2,291 with two.
    static let deliveryLanes = 2
    /// At most this many rounds in one transaction.
    static let roundsPerDeliveryBatch = 500

    /// Carries out a batch of ``DeliveryWrite``s in one transaction: one statement writes every
    /// round whose lease still holds (the emails' rows, attempts, history, suppressions, the
    /// sends' quota and activity counts) and reads which of them announce a webhook that an
    /// endpoint wants (a redriven email's second `email.failed` announces nothing); a second
    /// statement, only then, writes those webhook messages. Returns
    /// ``StoreError/leaseLost`` for each round whose lease had passed on, which wrote nothing.
    ///
    /// Batches run side by side and share counter and suppression rows: each takes those rows'
    /// locks in one order (the `ORDER BY`s), so that two batches never wait for each other in a
    /// circle, which PostgreSQL would end by aborting one (a deadlock).
    static func writeDeliveries(_ writes: [DeliveryWrite], on connection: PostgresConnection, logger: Logger) async throws
        -> [(any Error)?]
    {
        let batch = DeliveryBatch(writes)
        let rows = try await connection.query(
            """
            WITH input AS (
                SELECT * FROM unnest(\(batch.ids)::text[], \(batch.leaseTokens)::bigint[], \(batch.at)::bigint[],
                    \(batch.starting)::boolean[], \(batch.attemptNumbers)::integer[], \(batch.pendingProviders)::text[],
                    \(batch.statuses)::text[], \(batch.dueAt)::bigint[], \(batch.providers)::text[],
                    \(batch.providerMessageIDs)::text[], \(batch.reasons)::text[], \(batch.roundsChanges)::integer[],
                    \(batch.webhookTypes)::text[], \(batch.failureClasses)::text[])
                    AS input (id, lease_token, at, starting, attempt_number, pending_provider, status, due_at, provider,
                        provider_message_id, reason, rounds_change, webhook_type, failure_class)
            ), held AS (
                UPDATE emails SET
                    attempts = CASE WHEN input.starting THEN input.attempt_number ELSE emails.attempts END,
                    pending_attempt = input.attempt_number,
                    pending_provider = input.pending_provider,
                    pending_started_at = CASE WHEN input.starting THEN input.at END,
                    updated_at = input.at,
                    status = COALESCE(input.status, emails.status),
                    due_at = CASE WHEN input.starting THEN emails.due_at ELSE input.due_at END,
                    next_attempt_at = CASE WHEN input.starting THEN emails.next_attempt_at ELSE input.due_at END,
                    lease_owner = CASE WHEN input.starting THEN emails.lease_owner END,
                    provider = COALESCE(input.provider, emails.provider),
                    provider_message_id = COALESCE(input.provider_message_id, emails.provider_message_id),
                    failure_reason = CASE WHEN input.starting THEN emails.failure_reason ELSE input.reason END,
                    failure_class = CASE WHEN input.starting THEN emails.failure_class ELSE input.failure_class END,
                    rounds = emails.rounds + input.rounds_change
                FROM input
                WHERE emails.id = input.id AND emails.status = 'sending' AND emails.lease_token = input.lease_token
                RETURNING emails.id, emails.tenant, emails.redrives, input.webhook_type
            ), attempt AS (
                INSERT INTO attempts (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message,
                    routing)
                SELECT attempt.* FROM unnest(\(batch.attempts.emailIDs)::text[], \(batch.attempts.numbers)::integer[],
                    \(batch.attempts.providers)::text[], \(batch.attempts.startedAt)::bigint[], \(batch.attempts.latencies)::bigint[],
                    \(batch.attempts.outcomes)::text[], \(batch.attempts.errorClasses)::text[], \(batch.attempts.errorCodes)::text[],
                    \(batch.attempts.messages)::text[], \(batch.attempts.routings)::text[])
                    AS attempt (email_id, number, provider, started_at, latency_ms, outcome, error_class, error_code, message, routing)
                JOIN held ON held.id = attempt.email_id
                ON CONFLICT (email_id, number) DO NOTHING
            ), event AS (
                INSERT INTO events (email_id, kind, at, attempt, provider, detail)
                SELECT event.email_id, event.kind, event.at, event.attempt, event.provider, event.detail
                FROM unnest(\(batch.events.emailIDs)::text[], \(batch.events.kinds)::text[], \(batch.events.at)::bigint[],
                    \(batch.events.attempts)::integer[], \(batch.events.providers)::text[], \(batch.events.details)::text[])
                    WITH ORDINALITY AS event (email_id, kind, at, attempt, provider, detail, position)
                JOIN held ON held.id = event.email_id
                ORDER BY event.position
            ), suppression AS (
                INSERT INTO suppressions (tenant, address, reason, source, email_id, created_at)
                SELECT held.tenant, refused.address, refused.reason, \(Suppression.Source.delivery.rawValue), refused.email_id,
                    refused.created_at
                FROM unnest(\(batch.suppressions.emailIDs)::text[], \(batch.suppressions.addresses)::text[],
                    \(batch.suppressions.reasons)::text[], \(batch.suppressions.createdAt)::bigint[])
                    AS refused (email_id, address, reason, created_at)
                JOIN held ON held.id = refused.email_id
                ORDER BY held.tenant, refused.address
                ON CONFLICT (tenant, address) DO NOTHING
            ), send AS (
                INSERT INTO provider_sends (provider, period, period_start, shard, count)
                SELECT send.provider, send.period, send.period_start, send.shard, count(*)
                FROM unnest(\(batch.sends.emailIDs)::text[], \(batch.sends.providers)::text[], \(batch.sends.periods)::text[],
                    \(batch.sends.periodStarts)::bigint[], \(batch.sends.shards)::smallint[])
                    AS send (email_id, provider, period, period_start, shard)
                JOIN held ON held.id = send.email_id
                GROUP BY send.provider, send.period, send.period_start, send.shard
                ORDER BY send.provider, send.period, send.period_start, send.shard
                ON CONFLICT (provider, period, period_start, shard) DO UPDATE SET count = provider_sends.count + excluded.count
            ), activity AS (
                INSERT INTO activity_minutes (slot, kind, shard, minute, count)
                SELECT counted.slot, counted.kind, counted.shard, counted.minute, count(*)
                FROM unnest(\(batch.activity.emailIDs)::text[], \(batch.activity.kinds)::text[], \(batch.activity.slots)::integer[],
                    \(batch.activity.shards)::smallint[], \(batch.activity.minutes)::bigint[])
                    AS counted (email_id, kind, slot, shard, minute)
                JOIN held ON held.id = counted.email_id
                GROUP BY counted.slot, counted.kind, counted.shard, counted.minute
                ORDER BY counted.slot, counted.kind, counted.shard
                ON CONFLICT (slot, kind, shard) DO UPDATE SET \(unescaped: activityCountUpdate)
            )
            SELECT held.id, held.tenant,
                CASE WHEN held.webhook_type = \(WebhookEventType.failed.rawValue) AND held.redrives > 0 THEN NULL
                WHEN EXISTS (
                    SELECT 1 FROM webhook_endpoints AS endpoint
                    WHERE endpoint.tenant = held.tenant AND \(unescaped: endpointWants("held.webhook_type")))
                THEN (SELECT message FROM email_contents WHERE email_id = held.id) END
            FROM held
            """,
            logger: logger
        ).collect()

        var held: Set<String> = []
        var announcing: [String: (tenant: String, fields: Data)] = [:]
        for (id, tenant, fields) in try rows.decode((String, String, Data?).self) {
            held.insert(id)
            if let fields { announcing[id] = (tenant, fields) }
        }
        if !announcing.isEmpty {
            try await writeWebhookMessages(
                writes.compactMap { write in
                    guard let trigger = write.webhook, let email = announcing[write.emailID.rawValue] else { return nil }
                    return (trigger, email.tenant, email.fields)
                }, on: connection, logger: logger)
        }
        let removing = writes.filter { $0.removesContent && held.contains($0.emailID.rawValue) }
        if !removing.isEmpty {
            _ = try await removeContent(
                of: removing.map(\.emailID.rawValue), at: removing.map(\.at.milliseconds), on: connection, logger: logger)
        }
        return writes.map { held.contains($0.emailID.rawValue) ? nil : StoreError.leaseLost }
    }

    /// Writes a webhook message for each trigger, with its email's tenant and stored fields (for
    /// its tags and metadata), and a delivery to each enabled endpoint of the tenant that wants
    /// its type.
    static func writeWebhookMessages(
        _ triggers: [(trigger: WebhookTrigger, tenant: String, fields: Data)], on connection: PostgresConnection, logger: Logger
    ) async throws {
        var ids: [String] = []
        var tenants: [String] = []
        var types: [String] = []
        var emailIDs: [String] = []
        var bodies: [ByteBuffer] = []
        var at: [Int64] = []
        for (trigger, tenant, fields) in triggers {
            let message = try StoredContent(fields: fields, text: nil, html: nil).message()
            ids.append(WebhookColumns.newMessageID(at: trigger.at))
            tenants.append(tenant)
            types.append(trigger.type.rawValue)
            emailIDs.append(trigger.emailID.rawValue)
            bodies.append(ByteBuffer(bytes: trigger.body(tags: message.tags, metadata: message.metadata)))
            at.append(trigger.at.milliseconds)
        }
        try await connection.execute(
            """
            WITH message AS (
                INSERT INTO webhook_messages (id, tenant, type, email_id, body, created_at)
                SELECT * FROM unnest(\(ids)::text[], \(tenants)::text[], \(types)::text[], \(emailIDs)::text[], \(bodies)::bytea[],
                    \(at)::bigint[])
                RETURNING id, tenant, type, created_at
            )
            INSERT INTO webhook_deliveries (message_id, endpoint_id, status, next_attempt_at)
            SELECT message.id, endpoint.id, 'pending', message.created_at
            FROM message JOIN webhook_endpoints AS endpoint
                ON endpoint.tenant = message.tenant AND \(unescaped: endpointWants("message.type"))
            """,
            logger: logger)
    }

    /// SQL that holds when `endpoint` is enabled and wants messages of the type `type` (an SQL
    /// expression) names: an empty list of types is all of them, as
    /// ``WebhookColumns/Target/wants(_:)`` decides.
    static func endpointWants(_ type: String) -> String {
        "endpoint.enabled AND (endpoint.event_types = '' OR \(type) = ANY(string_to_array(endpoint.event_types, ' ')))"
    }
}

/// A batch of ``DeliveryWrite``s as the arrays, one per column, that
/// ``PostgresEmailStore/writeDeliveries(_:on:logger:)`` unnests.
struct DeliveryBatch {
    var ids: [String] = []
    var leaseTokens: [Int64] = []
    var at: [Int64] = []
    /// Whether the round is starting an attempt, rather than ending.
    var starting: [Bool] = []
    /// The starting attempt's number and provider, which the row keeps as pending.
    var attemptNumbers = NullableArray<Int64>()
    var pendingProviders = NullableArray<String>()
    /// How an ending round leaves the row.
    var statuses = NullableArray<String>()
    var dueAt = NullableArray<Int64>()
    var providers = NullableArray<String>()
    var providerMessageIDs = NullableArray<String>()
    var reasons = NullableArray<String>()
    var roundsChanges: [Int64] = []
    var webhookTypes = NullableArray<String>()
    var failureClasses = NullableArray<String>()
    var attempts = Attempts()
    var events = Events()
    var suppressions = Suppressions()
    var sends = Sends()
    var activity = Activity()

    struct Attempts {
        var emailIDs: [String] = []
        var numbers: [Int64] = []
        var providers: [String] = []
        var startedAt: [Int64] = []
        var latencies: [Int64] = []
        var outcomes: [String] = []
        var errorClasses = NullableArray<String>()
        var errorCodes = NullableArray<String>()
        var messages = NullableArray<String>()
        var routings = NullableArray<String>()

        mutating func append(_ attempt: Attempt, of emailID: String) {
            emailIDs.append(emailID)
            numbers.append(Int64(attempt.number))
            providers.append(attempt.provider)
            startedAt.append(attempt.startedAt.milliseconds)
            latencies.append(Int64(attempt.latencyMilliseconds))
            outcomes.append(attempt.outcome.rawValue)
            errorClasses.append(attempt.errorClass?.rawValue)
            errorCodes.append(attempt.errorCode)
            messages.append(attempt.message)
            routings.append(attempt.routing)
        }
    }

    struct Events {
        var emailIDs: [String] = []
        var kinds: [String] = []
        var at: [Int64] = []
        var attempts = NullableArray<Int64>()
        var providers = NullableArray<String>()
        var details = NullableArray<String>()

        mutating func append(_ event: EmailEvent, of emailID: String) {
            emailIDs.append(emailID)
            kinds.append(event.kind.rawValue)
            at.append(event.at.milliseconds)
            attempts.append(event.attempt.map(Int64.init))
            providers.append(event.provider)
            details.append(event.detail)
        }
    }

    struct Suppressions {
        var emailIDs: [String] = []
        var addresses: [String] = []
        var reasons: [String] = []
        var createdAt: [Int64] = []

        mutating func append(_ suppression: Suppression, of emailID: String) {
            emailIDs.append(emailID)
            addresses.append(suppression.address)
            reasons.append(suppression.reason)
            createdAt.append(suppression.createdAt.milliseconds)
        }
    }

    /// A row per send and quota period; the statement adds up equal ones.
    struct Sends {
        var emailIDs: [String] = []
        var providers: [String] = []
        var periods: [String] = []
        var periodStarts: [Int64] = []
        var shards: [Int16] = []

        mutating func append(through provider: String, at date: Date, shard: Int16, of emailID: String) {
            for period in SendQuota.Period.allCases {
                emailIDs.append(emailID)
                providers.append(provider)
                periods.append(period.rawValue)
                periodStarts.append(period.start(containing: date).milliseconds)
                shards.append(shard)
            }
        }
    }

    /// A row per count in the minute's activity; the statement adds up equal ones.
    struct Activity {
        var emailIDs: [String] = []
        var kinds: [String] = []
        var slots: [Int32] = []
        var shards: [Int16] = []
        var minutes: [Int64] = []

        mutating func append(_ kind: ActivityKind, at date: Date, shard: Int16, of emailID: String) {
            let minute = ActivityMinutes.minute(of: date)
            emailIDs.append(emailID)
            kinds.append(kind.rawValue)
            slots.append(Int32(ActivityMinutes.slot(of: minute)))
            shards.append(shard)
            minutes.append(minute)
        }
    }

    init(_ writes: [DeliveryWrite]) {
        for write in writes {
            let id = write.emailID.rawValue
            let shard = PostgresEmailStore.shard(of: write.emailID)
            ids.append(id)
            leaseTokens.append(write.leaseToken)
            at.append(write.at.milliseconds)
            switch write.change {
            case .attemptStarting(let number, let provider):
                starting.append(true)
                attemptNumbers.append(Int64(number))
                pendingProviders.append(provider)
                statuses.append(nil)
                dueAt.append(nil)
                providers.append(nil)
                providerMessageIDs.append(nil)
                reasons.append(nil)
                roundsChanges.append(0)
            case .roundEnded(let status, let due, let provider, let providerMessageID, let reason, let roundsChange):
                starting.append(false)
                attemptNumbers.append(nil)
                pendingProviders.append(nil)
                statuses.append(status.rawValue)
                dueAt.append(due?.milliseconds)
                providers.append(provider)
                providerMessageIDs.append(providerMessageID)
                reasons.append(reason)
                roundsChanges.append(Int64(roundsChange))
            }
            webhookTypes.append(write.webhook?.type.rawValue)
            failureClasses.append(write.failureClass?.rawValue)
            if let attempt = write.finishedAttempt { attempts.append(attempt, of: id) }
            for event in write.events { events.append(event, of: id) }
            for suppression in write.suppressions { suppressions.append(suppression, of: id) }
            if let provider = write.sentThrough {
                sends.append(through: provider, at: write.at, shard: shard, of: id)
                activity.append(.sent, at: write.at, shard: shard, of: id)
            }
            if let kind = write.activity { activity.append(kind, at: write.at, shard: shard, of: id) }
        }
    }
}
