import Crypto
import Foundation
import HeraldCore

/// Mailgun's webhooks: one JSON object per event, signed.
///
/// Mailgun (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks)
/// signs each request with `signature: {timestamp, token, signature}`, where `signature` is
/// the hex HMAC-SHA256 of the timestamp followed by the token, keyed with the account's
/// webhook signing key. It suggests caching tokens and checking the timestamp; Herald does
/// both. The event is `event-data`, with Herald's `herald_id` among its `user-variables`.
public struct MailgunEventReceiver: ProviderEventReceiver {
    public struct Configuration: Sendable {
        public var signingKey: String
        /// How far a timestamp may be from now, and how long a token is remembered.
        public var maxAge: Duration

        public init(signingKey: String, maxAge: Duration = .seconds(300)) {
            self.signingKey = signingKey
            self.maxAge = maxAge
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
        guard let object = try EventReception.json(request.body) as? [String: Any] else {
            throw EventRejection(.malformed, "the payload is not a JSON object")
        }
        guard let signature = object["signature"] as? [String: Any], let token = signature["token"] as? String,
            let timestampValue = signature["timestamp"], let hex = signature["signature"] as? String
        else { throw EventRejection(.unauthenticated, "the request is not signed") }
        let timestamp = timestampValue as? String ?? (timestampValue as? NSNumber)?.stringValue ?? ""
        let expected = HMAC<SHA256>.authenticationCode(
            for: Data((timestamp + token).utf8), using: SymmetricKey(data: Data(configuration.signingKey.utf8)))
        let expectedHex = expected.map { String(format: "%02x", $0) }.joined()
        guard constantTimeEqual(Array(expectedHex.utf8), Array(hex.lowercased().utf8)) else {
            throw EventRejection(.unauthenticated, "the signature does not match the payload")
        }
        guard let sentAt = EventReception.date(secondsSince1970: timestamp) else {
            throw EventRejection(.malformed, "the timestamp is not a number")
        }
        try replays.admit(token: token, timestamp: sentAt, now: request.receivedAt)
        guard let data = object["event-data"] as? [String: Any] else { throw EventRejection(.malformed, "the payload has no event-data") }
        return [event(from: data)]
    }

    private func event(from data: [String: Any]) -> ProviderEvent {
        let name = data["event"] as? String ?? ""
        let recipient = data["recipient"] as? String
        let occurredAt = EventReception.date(secondsSince1970: data["timestamp"]) ?? Date(timeIntervalSince1970: 0)
        let status = data["delivery-status"] as? [String: Any]
        let diagnostic = [(status?["code"] as? NSNumber)?.stringValue, status?["message"] as? String, status?["description"] as? String]
            .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        var kind = ProviderEvent.Kind.unknown
        var bounce: ProviderEvent.Bounce?
        var detail: String?
        switch name {
        case "accepted": kind = .queued
        case "delivered": kind = .delivered
        case "failed":
            let reason = data["reason"] as? String ?? ""
            if data["severity"] as? String == "temporary" {
                kind = .deferred
                detail = diagnostic.isEmpty ? reason : diagnostic
            } else if reason.hasPrefix("suppress") {
                // Mailgun refused to send because the address is on its own lists.
                kind = .rejected
                detail = reason
            } else {
                kind = .bounced
                bounce = ProviderEvent.Bounce(severity: .hard, classification: "permanent/\(reason)", diagnostic: diagnostic)
            }
        case "opened": kind = .opened
        case "clicked":
            kind = .clicked
            detail = data["url"] as? String
        case "complained": kind = .complained
        case "unsubscribed": kind = .unsubscribed
        default: kind = .unknown
        }
        let headers = (data["message"] as? [String: Any])?["headers"] as? [String: Any]
        // The send's answer names the message `<id>`; events name it without the brackets.
        let messageID = (headers?["message-id"] as? String).map { $0.hasPrefix("<") ? $0 : "<\($0)>" }
        let variables = data["user-variables"] as? [String: Any]
        return ProviderEvent(
            id: data["id"] as? String ?? EventReception.derivedID(name, recipient, messageID, "\(occurredAt.timeIntervalSince1970)"),
            provider: provider, kind: kind, occurredAt: occurredAt, recipient: recipient,
            emailID: (variables?["herald_id"] as? String).flatMap(EmailID.init), providerMessageID: messageID, bounce: bounce,
            detail: detail, payload: EventReception.payload(of: data))
    }
}
