import Foundation
import HeraldCore

extension HeraldConfiguration {
    /// `webhooks.*`: how Herald delivers webhooks to the tenants' endpoints.
    public struct Webhooks: Sendable {
        /// The key that seals endpoint secrets in the store, 32 bytes; nil to use the one kept
        /// beside the SQLite database (made on first start), or none on PostgreSQL.
        public var key: [UInt8]?
        public var allowPrivateTargets = false
        public var concurrency = 64
        public var timeout: Duration = .seconds(15)

        public init() {}
    }

    static func webhooks(_ settings: SettingsReader) throws(ConfigurationError) -> Webhooks {
        var webhooks = Webhooks()
        if let text = try settings.secret("webhooks.key") {
            guard let key = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), key.count == 32 else {
                throw ConfigurationError(key: "webhooks.key", problem: "must be 32 bytes in base64 (openssl rand -base64 32)")
            }
            webhooks.key = Array(key)
        }
        webhooks.allowPrivateTargets = try settings.bool("webhooks.allow_private_targets", default: false)
        webhooks.concurrency = try settings.int("webhooks.concurrency", default: webhooks.concurrency, in: 1...4096)
        webhooks.timeout = try settings.seconds("webhooks.timeout_seconds", default: 15, in: 0.1...60)
        return webhooks
    }
}
