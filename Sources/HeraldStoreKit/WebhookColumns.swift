import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How both stores keep webhooks in their columns: the types an endpoint wants, message ids,
/// the outcome of an attempt, and the rows read back as values.
public enum WebhookColumns {
    /// Space-separated type names; empty for all types.
    public static func types(_ types: Set<WebhookEventType>) -> String {
        types.map(\.rawValue).sorted().joined(separator: " ")
    }

    public static func types(_ column: String) -> Set<WebhookEventType> {
        Set(column.split(separator: " ").compactMap { WebhookEventType(rawValue: String($0)) })
    }

    /// An enabled endpoint as the outbox needs it: where messages go, and which.
    public struct Target: Sendable {
        public let id: String
        /// Empty for all types.
        public let types: Set<WebhookEventType>

        public init(id: String, types: Set<WebhookEventType>) {
            self.id = id
            self.types = types
        }

        public func wants(_ type: WebhookEventType) -> Bool { types.isEmpty || types.contains(type) }
    }

    /// `msg_` and a time-ordered id: the `webhook-id` every attempt of the message carries.
    public static func newMessageID(at date: Date) -> String {
        "msg_" + EmailID(date: date).rawValue
    }

    /// The smallest id of a message made at `date`: every message made before has a smaller one.
    public static func firstMessageID(at date: Date) -> String {
        "msg_" + EmailID.first(at: date).rawValue
    }

    /// What an attempt does to its delivery and its endpoint, as column values.
    public struct AttemptPlan: Sendable {
        /// The delivery's status afterwards: `delivered`, `pending` or `failed`.
        public let status: String
        /// How the attempt ended, for the log: `delivered`, `retry` or `failed`.
        public let outcome: String
        public let nextAttemptAt: Int64?
        /// Whether the endpoint answered 2xx, which ends a run of failures.
        public let answered: Bool
        public let disableReason: String?

        public init(_ attempt: WebhookAttempt) {
            switch attempt.next {
            case .delivered: (status, outcome, nextAttemptAt, disableReason) = ("delivered", "delivered", nil, nil)
            case .retry(let at): (status, outcome, nextAttemptAt, disableReason) = ("pending", "retry", at.milliseconds, nil)
            case .failed(let reason): (status, outcome, nextAttemptAt, disableReason) = ("failed", "failed", nil, reason)
            }
            answered = attempt.next == .delivered
        }
    }

    /// A leased delivery from its columns; the previous secret signs too until its time.
    public static func delivery(
        messageID: String, endpointID: String, attempts: Int, type: String, body: Data, createdAt: Int64, url: String, secret: Data,
        previousSecret: Data?, previousUntil: Int64?, failingSince: Int64?, now: Int64
    ) -> WebhookDelivery? {
        guard let type = WebhookEventType(rawValue: type) else { return nil }
        var secrets = [Array(secret)]
        if let previousSecret, let previousUntil, previousUntil > now { secrets.append(Array(previousSecret)) }
        return WebhookDelivery(
            messageID: messageID, endpointID: endpointID, url: url, type: type, body: Array(body), sealedSecrets: secrets,
            attempts: attempts, createdAt: Date(milliseconds: createdAt), endpointFailingSince: failingSince.map(Date.init(milliseconds:)))
    }

    public static func attempt(
        messageID: String, endpointID: String, number: Int, at: Int64, statusCode: Int?, latency: Int, response: String?,
        error: String?, outcome: String, nextAttemptAt: Int64?
    ) -> WebhookAttempt {
        let next: WebhookAttempt.Next =
            switch outcome {
            case "delivered": .delivered
            case "retry": .retry(at: Date(milliseconds: nextAttemptAt ?? at))
            default: .failed(disableEndpoint: nil)
            }
        return WebhookAttempt(
            messageID: messageID, endpointID: endpointID, number: number, at: Date(milliseconds: at), statusCode: statusCode,
            latencyMilliseconds: latency, response: response, error: error, next: next)
    }
}
