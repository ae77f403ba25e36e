#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One call to one provider for one email, as recorded once its outcome is known.
public struct Attempt: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        case sent
        case failed
    }

    public var number: Int
    public var provider: String
    public var startedAt: Date
    public var latencyMilliseconds: Int
    public var outcome: Outcome
    public var errorClass: ErrorClass?
    public var errorCode: String?
    public var message: String?
    /// Why this provider was chosen: the routing policy, and the providers passed over with
    /// their reasons.
    public var routing: String?

    public init(
        number: Int,
        provider: String,
        startedAt: Date,
        latencyMilliseconds: Int,
        outcome: Outcome,
        errorClass: ErrorClass? = nil,
        errorCode: String? = nil,
        message: String? = nil,
        routing: String? = nil
    ) {
        self.number = number
        self.provider = provider
        self.startedAt = startedAt
        self.latencyMilliseconds = latencyMilliseconds
        self.outcome = outcome
        self.errorClass = errorClass
        self.errorCode = errorCode
        self.message = message
        self.routing = routing
    }

    enum CodingKeys: String, CodingKey {
        case number, provider, outcome, message, routing
        case startedAt = "started_at"
        case latencyMilliseconds = "latency_ms"
        case errorClass = "error_class"
        case errorCode = "error_code"
    }
}

/// An entry in an email's append-only history.
public struct EmailEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case queued
        case attemptStarted = "attempt_started"
        case attemptFailed = "attempt_failed"
        case sent
        case deferred
        case failed
        case cancelled
        case retried
        /// Queued again by the redrive policy; the detail says why.
        case redriven
        /// Recipients left out because they are on the tenant's suppression list.
        case suppressed
    }

    public var kind: Kind
    public var at: Date
    public var attempt: Int?
    public var provider: String?
    /// A reason safe to show: an error code, or why a provider was skipped.
    public var detail: String?

    public init(kind: Kind, at: Date, attempt: Int? = nil, provider: String? = nil, detail: String? = nil) {
        self.kind = kind
        self.at = at
        self.attempt = attempt
        self.provider = provider
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case kind = "type"
        case at, attempt, provider, detail
    }
}

/// An email as clients see it: its state, and its whole history.
public struct EmailDetail: Sendable, Equatable {
    public var id: EmailID
    /// The tenant of the key that sent it.
    public var tenant: String
    public var status: EmailStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var nextAttemptAt: Date?
    public var provider: String?
    public var providerMessageID: String?
    public var failureReason: String?
    /// When the client asked for it to be sent, for a scheduled email.
    public var sendAt: Date?
    public var message: EmailMessage
    public var attempts: [Attempt]
    public var events: [EmailEvent]
    /// What the providers reported after sending, oldest first.
    public var providerEvents: [RecordedProviderEvent]
    /// Each recipient the providers reported on, in address order.
    public var recipients: [RecipientState]
    /// When retention removed the subject, bodies, headers and attachments; nil while kept.
    public var contentRemovedAt: Date?

    public init(
        id: EmailID, tenant: String = APIKey.defaultTenant, status: EmailStatus, createdAt: Date, updatedAt: Date, nextAttemptAt: Date?,
        provider: String?, providerMessageID: String?, failureReason: String?, sendAt: Date? = nil, message: EmailMessage,
        attempts: [Attempt], events: [EmailEvent], providerEvents: [RecordedProviderEvent] = [], recipients: [RecipientState] = [],
        contentRemovedAt: Date? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.nextAttemptAt = nextAttemptAt
        self.provider = provider
        self.providerMessageID = providerMessageID
        self.failureReason = failureReason
        self.sendAt = sendAt
        self.message = message
        self.attempts = attempts
        self.events = events
        self.providerEvents = providerEvents
        self.recipients = recipients
        self.contentRemovedAt = contentRemovedAt
    }
}

/// An email in a listing: its state without its history.
public struct EmailSummary: Sendable, Equatable {
    public var id: EmailID
    public var status: EmailStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var provider: String?

    public init(id: EmailID, status: EmailStatus, createdAt: Date, updatedAt: Date, provider: String?) {
        self.id = id
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.provider = provider
    }
}
