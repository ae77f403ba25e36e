// HeraldWebhooks tells applications what became of their emails: it signs the webhook
// messages the stores' outbox holds and delivers them to each tenant's endpoints, retrying.
import Crypto
import Foundation

/// Webhook signing as the Standard Webhooks specification defines it
/// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
/// a secret is `whsec_` and the base64 of its key; a signature is `v1,` and the base64
/// HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under that key; several
/// signatures, during a secret's rotation, are separated by spaces.
public enum WebhookSignature {
    static let secretPrefix = "whsec_"

    /// A new secret of 32 random bytes.
    public static func newSecret() -> String {
        secretPrefix + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// The key of a `whsec_` secret; nil for anything else.
    public static func key(ofSecret secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
            !bytes.isEmpty
        else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// The `webhook-signature` value: one `v1,` signature for each key.
    public static func header(id: String, timestamp: Int, body: [UInt8], keys: [SymmetricKey]) -> String {
        let signed = Data("\(id).\(timestamp).".utf8) + Data(body)
        return keys.map { key in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
        }.joined(separator: " ")
    }
}
