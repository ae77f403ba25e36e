#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What an application can be told about its emails, by the names Resend and useSend use,
/// which applications already parse.
public enum WebhookEventType: String, Sendable, CaseIterable, Codable {
    case queued = "email.queued"
    case sent = "email.sent"
    case delivered = "email.delivered"
    case deliveryDelayed = "email.delivery_delayed"
    case bounced = "email.bounced"
    case complained = "email.complained"
    /// Herald gave up on the email.
    case failed = "email.failed"
    case suppressed = "email.suppressed"
    case cancelled = "email.cancelled"
    case opened = "email.opened"
    case clicked = "email.clicked"

    /// The type that reports a provider event of `kind`; nil for kinds applications are not
    /// told about (`queued`, `sent` and `rejected` at the provider, `unknown`).
    public init?(_ kind: ProviderEvent.Kind) {
        switch kind {
        case .delivered: self = .delivered
        case .deferred: self = .deliveryDelayed
        case .bounced: self = .bounced
        case .complained: self = .complained
        case .opened: self = .opened
        case .clicked: self = .clicked
        case .queued, .sent, .rejected, .failed, .autoresponded, .unsubscribed, .unknown: return nil
        }
    }
}

/// Where a tenant wants its webhooks sent.
public struct WebhookEndpoint: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var url: String
    /// The types sent to it; empty for all.
    public var eventTypes: Set<WebhookEventType>
    public var enabled: Bool
    /// Why Herald disabled it (a 410 answer, days of failures); nil when enabled by hand or
    /// never disabled.
    public var disabledReason: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, tenant: String, url: String, eventTypes: Set<WebhookEventType>, enabled: Bool = true, disabledReason: String? = nil,
        createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.eventTypes = eventTypes
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What happened, for the webhooks a store writes in the same transaction as the change they
/// report (a transactional outbox): a crash loses neither or both.
public struct WebhookTrigger: Sendable, Equatable {
    public var type: WebhookEventType
    public var emailID: EmailID
    public var at: Date
    /// The provider event behind it, for the types that report one.
    public var event: ProviderEvent?
    /// The provider of a sent email, or the reason a failed one failed.
    public var provider: String?
    public var providerMessageID: String?
    public var reason: String?

    public init(
        type: WebhookEventType, emailID: EmailID, at: Date, event: ProviderEvent? = nil, provider: String? = nil,
        providerMessageID: String? = nil, reason: String? = nil
    ) {
        self.type = type
        self.emailID = emailID
        self.at = at
        self.event = event
        self.provider = provider ?? event?.provider
        self.providerMessageID = providerMessageID ?? event?.providerMessageID
        self.reason = reason
    }

    /// The body of the webhook: `{type, timestamp, data}`, with `data` holding the email's
    /// id, tags and metadata and what the trigger knows. Built once, when the message is
    /// written, so that every retry sends the same bytes.
    public func body(tags: [String], metadata: [String: String]) -> [UInt8] {
        // Keys in sorted order; names as the Standard Webhooks examples and Resend use them.
        var body = JSONObjectWriter()
        body.object("data") { data in
            if let bounce = event?.bounce {
                data.object("bounce") { object in
                    object.string("classification", bounce.classification)
                    object.string("diagnostic", bounce.diagnostic)
                    object.string("type", bounce.severity.rawValue)
                }
            }
            data.string("detail", event?.detail)
            data.string("email_id", emailID.rawValue)
            data.strings("metadata", metadata)
            data.string("provider", provider)
            data.string("provider_event_id", event?.id)
            data.string("provider_message_id", providerMessageID)
            data.string("reason", reason)
            data.string("recipient", event?.recipient)
            data.strings("tags", tags)
        }
        body.string("timestamp", UTCTime(at).iso8601)
        body.string("type", type.rawValue)
        return body.finished()
    }
}

/// A webhook message waiting to reach one endpoint, leased to one dispatcher.
public struct WebhookDelivery: Sendable, Equatable {
    /// The `webhook-id`: the same on every attempt.
    public var messageID: String
    public var endpointID: String
    public var url: String
    public var type: WebhookEventType
    public var body: [UInt8]
    /// The endpoint's sealed secrets: the current one, then the previous one while a rotation's
    /// overlap lasts. Each signs the message.
    public var sealedSecrets: [[UInt8]]
    /// Attempts made before this one.
    public var attempts: Int
    public var createdAt: Date
    /// Since when the endpoint has failed every attempt; nil while it answers.
    public var endpointFailingSince: Date?

    public init(
        messageID: String, endpointID: String, url: String, type: WebhookEventType, body: [UInt8], sealedSecrets: [[UInt8]],
        attempts: Int, createdAt: Date, endpointFailingSince: Date? = nil
    ) {
        self.messageID = messageID
        self.endpointID = endpointID
        self.url = url
        self.type = type
        self.body = body
        self.sealedSecrets = sealedSecrets
        self.attempts = attempts
        self.createdAt = createdAt
        self.endpointFailingSince = endpointFailingSince
    }
}

/// One try to deliver a webhook message, as the delivery log shows it.
public struct WebhookAttempt: Sendable, Equatable {
    public enum Next: Sendable, Equatable {
        case delivered
        case retry(at: Date)
        /// No more tries; `disableEndpoint` says why the endpoint is switched off too.
        case failed(disableEndpoint: String?)
    }

    public var messageID: String
    public var endpointID: String
    public var number: Int
    public var at: Date
    /// The endpoint's HTTP status; nil when there was no answer.
    public var statusCode: Int?
    public var latencyMilliseconds: Int
    /// The start of the answer's body, at most ``maxResponseBytes``.
    public var response: String?
    /// Why there was no answer: a timeout, a refused connection, a refused target.
    public var error: String?
    public var next: Next

    public static let maxResponseBytes = 1024

    public init(
        messageID: String, endpointID: String, number: Int, at: Date, statusCode: Int?, latencyMilliseconds: Int, response: String?,
        error: String?, next: Next
    ) {
        self.messageID = messageID
        self.endpointID = endpointID
        self.number = number
        self.at = at
        self.statusCode = statusCode
        self.latencyMilliseconds = latencyMilliseconds
        self.response = response
        self.error = error
        self.next = next
    }
}

/// Where endpoints, their messages and every delivery attempt are kept. Messages are written
/// by the stores' other writes, in their transactions (see ``WebhookTrigger``).
public protocol WebhookStore: Sendable {
    func createWebhookEndpoint(_ endpoint: WebhookEndpoint, sealedSecret: [UInt8]) async throws
    func webhookEndpoints(tenant: String) async throws -> [WebhookEndpoint]
    func webhookEndpoint(id: String, tenant: String) async throws -> WebhookEndpoint?
    /// Saves the URL, types and enabled flag; false when there is no such endpoint.
    func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws -> Bool
    /// Makes `sealedSecret` the endpoint's secret; the one before keeps signing until
    /// `previousUntil`. False when there is no such endpoint.
    func rotateWebhookSecret(id: String, tenant: String, sealedSecret: [UInt8], previousUntil: Date, now: Date) async throws -> Bool
    /// Deletes the endpoint and its pending deliveries; false when there was none.
    func deleteWebhookEndpoint(id: String, tenant: String) async throws -> Bool

    /// Takes up to `limit` deliveries that are due (pending and past their time, or leased by
    /// an owner whose lease ran out) to enabled endpoints, leased to `owner` until
    /// `now + duration`.
    func leaseWebhookDeliveries(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [WebhookDelivery]
    /// Writes the attempt to the log and moves its delivery on as `attempt.next` says.
    func recordWebhookAttempt(_ attempt: WebhookAttempt) async throws
    /// Hands a leased delivery back, due at `until`, without an attempt: its endpoint's
    /// breaker is open.
    func postponeWebhookDelivery(messageID: String, endpointID: String, until: Date) async throws
    /// The endpoint's attempts, newest first, older than `before` (a time) when given.
    func webhookAttempts(endpointID: String, tenant: String, limit: Int, before: Date?) async throws -> [WebhookAttempt]
    /// Makes the endpoint's messages created in `from..<to` (or the one `messageID`) due
    /// again at `now`, whatever became of them; returns how many.
    func replayWebhooks(endpointID: String, tenant: String, messageID: String?, from: Date?, to: Date?, now: Date) async throws -> Int
}
