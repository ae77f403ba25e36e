#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A column's value on its way from one store to another, for `herald migrate-store`.
public enum StoreValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    case boolean(Bool)
    case texts([String])
}

/// The tables a store is made of, with the columns both stores have, in an order that keeps
/// every reference valid. The first `keyColumns` columns are the table's primary key.
/// `StoreTablesTests` hold each store's schema to these names.
public enum StoreTables {
    public static let all: [(name: String, keyColumns: Int, columns: [String])] = [
        (
            "emails", 1,
            [
                "id", "tenant", "status", "created_at", "queued_at", "updated_at", "due_at", "next_attempt_at", "send_at",
                "lease_owner", "lease_token", "rounds", "attempts", "pending_attempt", "pending_provider", "pending_started_at",
                "provider", "provider_message_id", "failure_reason", "failure_class", "redrives",
                "content_removed_at", "metadata_only",
            ]
        ),
        ("email_contents", 1, ["email_id", "message", "text", "html"]),
        ("email_recipients", 2, ["address", "email_id"]),
        (
            "attempts", 2,
            ["email_id", "number", "provider", "started_at", "latency_ms", "outcome", "error_class", "error_code", "message", "routing"]
        ),
        ("events", 1, ["seq", "email_id", "kind", "at", "attempt", "provider", "detail"]),
        ("provider_state", 1, ["provider", "paused", "breaker_open_until", "throttled_until", "updated_at"]),
        ("provider_sends", 3, ["provider", "period", "period_start", "count"]),
        ("api_keys", 1, ["id", "tenant", "scope", "secret_hash", "created_at", "revoked_at", "rate_per_second"]),
        (
            "idempotency_keys", 2,
            ["api_key_id", "idempotency_key", "request_hash", "status", "body", "location", "created_at", "claim_token"]
        ),
        ("suppressions", 2, ["tenant", "address", "reason", "source", "email_id", "event_id", "created_at"]),
        (
            "provider_events", 2,
            [
                "provider", "event_id", "email_id", "tenant", "kind", "recipient", "occurred_at", "received_at", "bounce_severity",
                "bounce_classification", "diagnostic", "detail", "payload",
            ]
        ),
        (
            "recipients", 2,
            ["email_id", "address", "phase", "updated_at", "bounce_severity", "bounce_classification", "diagnostic"]
        ),
        ("provider_event_counts", 2, ["provider", "hour_start", "events", "refused", "last_event_at"]),
        (
            "webhook_endpoints", 1,
            [
                "id", "tenant", "url", "event_types", "enabled", "disabled_reason", "secret", "previous_secret", "previous_secret_until",
                "failing_since", "created_at", "updated_at",
            ]
        ),
        ("webhook_messages", 1, ["id", "tenant", "type", "email_id", "body", "created_at"]),
        ("webhook_deliveries", 2, ["message_id", "endpoint_id", "status", "attempts", "next_attempt_at", "lease_owner"]),
        (
            "webhook_attempts", 3,
            [
                "message_id", "endpoint_id", "number", "at", "status_code", "latency_ms", "response", "error", "outcome",
                "next_attempt_at",
            ]
        ),
        ("activity_minutes", 2, ["slot", "kind", "minute", "count"]),
    ]

    /// Columns a store fills itself when rows are copied in, rather than copies: the tags each
    /// store keeps beside an email's content in a form of its own (read from the content), and
    /// the shards of PostgreSQL's activity and send counters (which spread concurrent nodes'
    /// increments).
    public static let filledOnCopy: [String: Set<String>] = [
        "email_contents": ["tags"], "activity_minutes": ["shard"], "provider_sends": ["shard"],
    ]

    /// A store's tables that are not copied: each store's record of its own migrations, the
    /// table written only to see that the store takes writes, and PostgreSQL's shared token
    /// buckets, which refill by themselves.
    public static let notCopied: Set<String> = [
        "grdb_migrations", "herald_migrations", "readiness_probe", "herald_readiness", "provider_tokens",
    ]
}
