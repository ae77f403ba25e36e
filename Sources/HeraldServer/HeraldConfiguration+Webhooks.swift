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
        /// How long a node holds the messages it took: when it dies, others send them after this.
        public var leaseDuration: Duration = .seconds(60)

        public init() {}
    }

    static func webhooks(_ settings: SettingsReader) throws(ConfigurationError) -> Webhooks {
        var webhooks = Webhooks()
        webhooks.key = try settings.key256("webhooks.key")
        webhooks.allowPrivateTargets = try settings.bool("webhooks.allow_private_targets", default: false)
        webhooks.concurrency = try settings.int("webhooks.concurrency", default: webhooks.concurrency, in: 1...4096)
        webhooks.timeout = try settings.seconds("webhooks.timeout_seconds", default: 15, in: 0.1...60)
        webhooks.leaseDuration = try settings.seconds("webhooks.lease_seconds", default: 60, in: 1...3600)
        // A lease that ends before its request may has the message sent twice at once.
        guard webhooks.leaseDuration > webhooks.timeout else {
            throw ConfigurationError(key: "webhooks.lease_seconds", problem: "must be longer than webhooks.timeout_seconds")
        }
        return webhooks
    }
}
