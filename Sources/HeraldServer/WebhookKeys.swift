import Foundation
import HeraldAPI
import HeraldCore
import HeraldWebhooks
import Hummingbird
import Logging

/// The key that seals webhook endpoint secrets, and what the API needs of it.
struct WebhookKeys: WebhookSupport {
    /// Nil when Herald has no key: endpoints cannot be made.
    let sealer: SecretSealer?
    let allowPrivateTargets: Bool

    /// The configured key; else, on SQLite, the one in `<database>.webhook-key`, made with
    /// random bytes on first start and readable by its owner only. Nodes on PostgreSQL share
    /// their endpoints, so they must share the key too: there is none unless configured.
    static func resolve(_ configuration: HeraldConfiguration, logger: Logger) throws -> WebhookKeys {
        let allow = configuration.webhooks.allowPrivateTargets
        if let key = configuration.webhooks.key { return WebhookKeys(sealer: SecretSealer(key: key), allowPrivateTargets: allow) }
        guard configuration.postgres == nil else {
            logger.notice("webhooks are off: set webhooks.key (or webhooks.key_file), the same on every node, to register endpoints")
            return WebhookKeys(sealer: nil, allowPrivateTargets: allow)
        }
        let path = keyFile(ofDatabase: configuration.sqlitePath)
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
            let key = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            key.count == 32
        {
            return WebhookKeys(sealer: SecretSealer(key: Array(key)), allowPrivateTargets: allow)
        }
        var key = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in key.indices { key[index] = UInt8.random(in: .min ... .max, using: &generator) }
        let created = FileManager.default.createFile(
            atPath: path, contents: Data(Data(key).base64EncodedString().utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw WebhookKeyError("could not write the webhook key to \(path)") }
        return WebhookKeys(sealer: SecretSealer(key: key), allowPrivateTargets: allow)
    }

    /// The SQLite store's own key file, beside its database (and beside a backup of it).
    static func keyFile(ofDatabase path: String) -> String {
        path + ".webhook-key"
    }

    func issueSecret() throws -> (secret: String, sealed: [UInt8]) {
        guard let sealer else {
            throw APIError(
                .conflict, code: "webhook_key_missing",
                message: "this node has no webhook key: set webhooks.key (or webhooks.key_file), the same on every node")
        }
        let secret = WebhookSignature.newSecret()
        return (secret, try sealer.seal(secret))
    }

    func problem(withTarget url: String) -> String? {
        do {
            try WebhookTarget.check(url, allowPrivate: allowPrivateTargets)
            return nil
        } catch {
            return error.description
        }
    }
}
