import AsyncHTTPClient
import Foundation
import HeraldCore
import Logging

/// Amazon SES's events, delivered by an Amazon SNS topic's HTTPS subscription.
///
/// Every SNS message's signature is checked (``SNSMessageVerifier``). A
/// `SubscriptionConfirmation` is confirmed by fetching its `SubscribeURL`, on an allowed host
/// only (https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html). A
/// `Notification`'s `Message` is SES's JSON in either of its forms: notifications of an
/// identity (`notificationType`: Bounce, Complaint, Delivery;
/// https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html) or event publishing
/// through a configuration set (`eventType`: Send, Reject, Bounce, Complaint, Delivery,
/// DeliveryDelay, Open, Click, Rendering Failure, Subscription;
/// https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html).
/// SES's first message to a new topic is plain text, not JSON, and is accepted and ignored.
///
/// Herald's id comes back as the `herald_id` message tag, or as the `X-Herald-Id` header when
/// the identity sends headers with its notifications; else the SES message id matches.
public struct SESEventReceiver: ProviderEventReceiver {
    public struct Configuration: Sendable {
        /// Hosts (with `:port` when not 443) that certificates and subscription confirmations
        /// are fetched from.
        public var allowedHosts: Set<String>
        /// When set, only messages from these topics are accepted.
        public var topicARNs: Set<String>?
        /// A PEM file of certificates to trust, instead of the system's, when fetching from the
        /// allowed hosts: for an SNS-compatible service with a private CA, and for tests.
        public var caFile: String?

        public init(region: String, allowedHosts: Set<String>? = nil, topicARNs: Set<String>? = nil, caFile: String? = nil) {
            self.allowedHosts = allowedHosts ?? ["sns.\(region).amazonaws.com"]
            self.topicARNs = topicARNs
            self.caFile = caFile
        }
    }

    let provider: String
    let configuration: Configuration
    private let verifier: SNSMessageVerifier
    private let logger: Logger

    /// `client` fetches certificates and confirms subscriptions; it must not follow redirects.
    public init(provider: String, configuration: Configuration, client: HTTPClient, logger: Logger) {
        self.provider = provider
        self.configuration = configuration
        self.verifier = SNSMessageVerifier(allowedHosts: configuration.allowedHosts, client: client)
        self.logger = logger
    }

    public func events(from request: InboundEventRequest) async throws(EventRejection) -> [ProviderEvent] {
        guard let message = try EventReception.json(request.body) as? [String: Any] else {
            throw EventRejection(.malformed, "the payload is not an SNS message")
        }
        try await verifier.verify(message)
        if let allowed = configuration.topicARNs, !allowed.contains(message["TopicArn"] as? String ?? "") {
            throw EventRejection(.unauthenticated, "the message comes from a topic that is not configured")
        }
        switch message["Type"] as? String {
        case "SubscriptionConfirmation":
            try await confirmSubscription(message)
            return []
        case "Notification":
            return try notificationEvents(message)
        default:
            return []
        }
    }

    private func confirmSubscription(_ message: [String: Any]) async throws(EventRejection) {
        guard let text = message["SubscribeURL"] as? String, let url = URL(string: text), verifier.isAllowed(url) else {
            throw EventRejection(.unauthenticated, "the SubscribeURL is not an https URL on an allowed host")
        }
        do {
            _ = try await verifier.get(url)
        } catch {
            throw EventRejection(.malformed, "the subscription could not be confirmed")
        }
        logger.notice(
            "confirmed the SNS subscription", metadata: ["provider": "\(provider)", "topic": "\(message["TopicArn"] as? String ?? "")"])
    }

    private func notificationEvents(_ message: [String: Any]) throws(EventRejection) -> [ProviderEvent] {
        guard let text = message["Message"] as? String, let snsID = message["MessageId"] as? String else {
            throw EventRejection(.malformed, "the notification has no Message or MessageId")
        }
        // SES's first message to a topic, "Successfully validated SNS topic…", is plain text.
        guard let notification = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return [] }
        let type = notification["eventType"] as? String ?? notification["notificationType"] as? String ?? ""
        let mail = notification["mail"] as? [String: Any] ?? [:]
        let emailID = Self.heraldID(in: mail)
        let messageID = mail["messageId"] as? String
        let destination = mail["destination"] as? [String] ?? []
        let payload = Array(text.utf8)

        func recipientEvents(
            _ kind: ProviderEvent.Kind, _ recipients: [(address: String, diagnostic: String?)], section: String,
            bounce: ProviderEvent.Bounce? = nil,
            detail: String? = nil
        ) -> [ProviderEvent] {
            let details = notification[section] as? [String: Any]
            let time =
                EventReception.date(iso8601: details?["timestamp"]) ?? EventReception.date(iso8601: mail["timestamp"])
                ?? Date(timeIntervalSince1970: 0)
            return recipients.map { recipient in
                var bounce = bounce
                bounce?.diagnostic = recipient.diagnostic
                return ProviderEvent(
                    id: "\(snsID):\(recipient.address.lowercased())", provider: provider, kind: kind, occurredAt: time,
                    recipient: recipient.address, emailID: emailID, providerMessageID: messageID, bounce: bounce, detail: detail,
                    payload: payload)
            }
        }
        let everyone = destination.map { (address: $0, diagnostic: nil as String?) }
        switch type {
        case "Bounce":
            let details = notification["bounce"] as? [String: Any] ?? [:]
            let bounceType = details["bounceType"] as? String ?? "Undetermined"
            let severity: ProviderEvent.Bounce.Severity =
                bounceType == "Permanent" ? .hard : bounceType == "Transient" ? .soft : .undetermined
            let bounce = ProviderEvent.Bounce(
                severity: severity, classification: "\(bounceType)/\(details["bounceSubType"] as? String ?? "")")
            return recipientEvents(.bounced, Self.recipients(details["bouncedRecipients"]), section: "bounce", bounce: bounce)
        case "Complaint":
            let details = notification["complaint"] as? [String: Any] ?? [:]
            return recipientEvents(
                .complained, Self.recipients(details["complainedRecipients"]), section: "complaint",
                detail: details["complaintFeedbackType"] as? String)
        case "Delivery":
            let details = notification["delivery"] as? [String: Any] ?? [:]
            let recipients = (details["recipients"] as? [String] ?? []).map { (address: $0, diagnostic: nil as String?) }
            return recipientEvents(.delivered, recipients, section: "delivery", detail: details["smtpResponse"] as? String)
        case "DeliveryDelay":
            let details = notification["deliveryDelay"] as? [String: Any] ?? [:]
            return recipientEvents(
                .deferred, Self.recipients(details["delayedRecipients"]), section: "deliveryDelay", detail: details["delayType"] as? String)
        case "Send": return recipientEvents(.sent, everyone, section: "send")
        case "Reject":
            return recipientEvents(
                .rejected, everyone, section: "reject", detail: (notification["reject"] as? [String: Any])?["reason"] as? String)
        case "Open": return recipientEvents(.opened, everyone, section: "open")
        case "Click":
            return recipientEvents(
                .clicked, everyone, section: "click", detail: (notification["click"] as? [String: Any])?["link"] as? String)
        case "Rendering Failure":
            return recipientEvents(
                .failed, everyone, section: "failure", detail: (notification["failure"] as? [String: Any])?["errorMessage"] as? String)
        case "Subscription": return recipientEvents(.unsubscribed, everyone, section: "subscription")
        default: return recipientEvents(.unknown, everyone, section: "")
        }
    }

    /// Recipients of a bounce, complaint or delay: `emailAddress` with `diagnosticCode`.
    private static func recipients(_ value: Any?) -> [(address: String, diagnostic: String?)] {
        (value as? [[String: Any]] ?? []).compactMap { recipient in
            (recipient["emailAddress"] as? String).map { ($0, recipient["diagnosticCode"] as? String) }
        }
    }

    /// Herald's id from the `herald_id` tag (event publishing) or the `X-Herald-Id` header.
    private static func heraldID(in mail: [String: Any]) -> EmailID? {
        if let tag = ((mail["tags"] as? [String: Any])?["herald_id"] as? [String])?.first { return EmailID(tag) }
        let headers = mail["headers"] as? [[String: Any]] ?? []
        let header = headers.first { ($0["name"] as? String)?.lowercased() == "x-herald-id" }
        return (header?["value"] as? String).flatMap(EmailID.init)
    }
}
