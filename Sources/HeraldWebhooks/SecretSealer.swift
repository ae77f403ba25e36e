import Crypto
import Foundation

/// Seals endpoint secrets for the store with AES-256-GCM under Herald's webhook key, so that
/// the store never holds one in the clear; each sealed secret carries its own nonce and tag.
public struct SecretSealer: Sendable {
    private let key: SymmetricKey

    /// `key` must be 32 bytes.
    public init?(key: [UInt8]) {
        guard key.count == 32 else { return nil }
        self.key = SymmetricKey(data: key)
    }

    public func seal(_ secret: String) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else {
            throw WebhookKeyError("the secret could not be sealed")
        }
        return Array(combined)
    }

    /// The secret; throws when it was sealed under another key or changed.
    public func open(_ sealed: [UInt8]) throws -> String {
        let data = try AES.GCM.open(AES.GCM.SealedBox(combined: Data(sealed)), using: key)
        return String(decoding: data, as: UTF8.self)
    }
}

public struct WebhookKeyError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
