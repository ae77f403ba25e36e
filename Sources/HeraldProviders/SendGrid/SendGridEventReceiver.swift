import Crypto
import Foundation
import HeraldCore

/// SendGrid's Event Webhook: a JSON array of events, signed.
///
/// The signed webhook
/// (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features)
/// signs the `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body with
/// ECDSA P-256 and SHA-256; `X-Twilio-Email-Event-Webhook-Signature` holds the signature,
/// base64 of its DER form, and SendGrid's settings show the public key as base64 DER.
/// Herald's `herald_id` custom argument comes back as a key of each event
/// (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event).
public struct SendGridEventReceiver: ProviderEventReceiver {
    public struct Configuration: Sendable {
        /// The verification key SendGrid shows: base64 of the DER public key, or PEM.
        public var publicKey: P256.Signing.PublicKey
        /// How far a request's timestamp may be from now, and how long its signature is
        /// remembered to refuse it a second time.
        public var maxAge: Duration

        public init(publicKey: P256.Signing.PublicKey, maxAge: Duration = .seconds(300)) {
            self.publicKey = publicKey
            self.maxAge = maxAge
        }

        /// The key as SendGrid shows it (base64 DER) or as PEM; nil when it is neither.
        public static func publicKey(from text: String) -> P256.Signing.PublicKey? {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("-----BEGIN") { return try? P256.Signing.PublicKey(pemRepresentation: trimmed) }
            return Data(base64Encoded: trimmed).flatMap { try? P256.Signing.PublicKey(derRepresentation: $0) }
        }
    }

    let provider: String
    let configuration: Configuration
    private let replays: ReplayGuard

    public init(provider: String, configuration: Configuration) {
        self.provider = provider
        self.configuration = configuration
        self.replays = ReplayGuard(window: configuration.maxAge)
    }

    public func events(from request: InboundEventRequest) async throws(EventRejection) -> [ProviderEvent] {
        guard let signatureText = request.headers["x-twilio-email-event-webhook-signature"],
            let timestamp = request.headers["x-twilio-email-event-webhook-timestamp"]
        else { throw EventRejection(.unauthenticated, "the request is not signed") }
        guard let signatureBytes = Data(base64Encoded: signatureText),
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: signatureBytes),
            configuration.publicKey.isValidSignature(signature, for: Data(timestamp.utf8) + Data(request.body))
        else { throw EventRejection(.unauthenticated, "the signature does not match the payload") }
        guard let sentAt = EventReception.date(secondsSince1970: timestamp) else {
            throw EventRejection(.malformed, "the timestamp is not a number")
        }
        // The signed content identifies the request, not the signature: an ECDSA signature can
        // be altered into another valid one for the same content.
        let signedContent = SHA256.hash(data: Data(timestamp.utf8) + Data(request.body)).map { String(format: "%02x", $0) }.joined()
        try replays.admit(token: signedContent, timestamp: sentAt, now: request.receivedAt)
        guard let objects = try EventReception.json(request.body) as? [Any],
            let payloads = EventReception.arrayElements(request.body), payloads.count == objects.count
        else { throw EventRejection(.malformed, "the payload is not a JSON array of events") }
        return try zip(objects, payloads).map { object, payload throws(EventRejection) in
            guard let fields = object as? [String: Any] else { throw EventRejection(.malformed, "an event is not a JSON object") }
            return event(from: fields, payload: Array(request.body[payload]))
        }
    }

    private func event(from fields: [String: Any], payload: [UInt8]) -> ProviderEvent {
        let name = fields["event"] as? String ?? ""
        let recipient = fields["email"] as? String
        let occurredAt = EventReception.date(secondsSince1970: fields["timestamp"]) ?? Date(timeIntervalSince1970: 0)
        // sg_message_id is the X-Message-Id of the send followed by `.filter…` parts.
        let messageID = (fields["sg_message_id"] as? String).map { String($0.prefix { $0 != "." }) }
        var kind = ProviderEvent.Kind.unknown
        var bounce: ProviderEvent.Bounce?
        var detail: String?
        switch name {
        case "processed": kind = .queued
        case "dropped":
            kind = .rejected
            detail = fields["reason"] as? String
        case "delivered": kind = .delivered
        case "deferred":
            kind = .deferred
            detail = fields["response"] as? String
        case "bounce":
            // `type` tells a bounce (the server refused the address) from a block (it refused
            // the message for now); a missing one is treated as a bounce.
            kind = .bounced
            let type = fields["type"] as? String ?? "bounce"
            bounce = ProviderEvent.Bounce(
                severity: type == "blocked" ? .soft : .hard,
                classification: [type, fields["bounce_classification"] as? String].compactMap { $0 }.joined(separator: "/"),
                diagnostic: [fields["status"] as? String, fields["reason"] as? String].compactMap { $0 }.joined(separator: " "))
        case "open": kind = .opened
        case "click":
            kind = .clicked
            detail = fields["url"] as? String
        case "spamreport": kind = .complained
        case "unsubscribe", "group_unsubscribe": kind = .unsubscribed
        default: kind = .unknown
        }
        let id =
            fields["sg_event_id"] as? String
            ?? EventReception.derivedID(name, recipient, fields["sg_message_id"] as? String, "\(occurredAt.timeIntervalSince1970)")
        return ProviderEvent(
            id: id, provider: provider, kind: kind, occurredAt: occurredAt, recipient: recipient,
            emailID: (fields["herald_id"] as? String).flatMap(EmailID.init), providerMessageID: messageID, bounce: bounce, detail: detail,
            payload: payload)
    }
}
