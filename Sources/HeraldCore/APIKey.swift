#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An API key as Herald keeps it: who it belongs to and what it may do, never the secret
/// itself, only its SHA-256 hash.
public struct APIKey: Sendable, Equatable {
    /// What a key may do; each scope includes the ones below it.
    public enum Scope: String, Sendable, CaseIterable, Codable, Comparable {
        /// Read emails and providers.
        case read
        /// Send emails, and read and cancel them.
        case send
        /// Everything within its tenant, bulk operations included.
        case admin
        /// Also what acts on the whole installation, across tenants: pausing, resuming and
        /// changing providers. The key Herald makes at its first start has it.
        case `operator`

        public func allows(_ needed: Scope) -> Bool { needed <= self }

        public static func < (lhs: Scope, rhs: Scope) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The tenant of emails sent before there were keys, and of the first key.
    public static let defaultTenant = "default"

    /// Public and stable: the key's name in lists and in `herald keys revoke`.
    public var id: String
    public var tenant: String
    public var scope: Scope
    public var createdAt: Date
    public var revokedAt: Date?
    /// Requests per second this key may make; nil for the server's default.
    public var ratePerSecond: Double?

    /// The request rates a key may have, its own or the server's default.
    public static let rateRange: ClosedRange<Double> = 0.01...1_000_000

    public init(id: String, tenant: String, scope: Scope, createdAt: Date, revokedAt: Date? = nil, ratePerSecond: Double? = nil) {
        self.id = id
        self.tenant = tenant
        self.scope = scope
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.ratePerSecond = ratePerSecond
    }
}

/// Where API keys are kept.
public protocol APIKeyStore: Sendable {
    func saveKey(_ key: APIKey, secretHash: [UInt8]) async throws
    /// The key with this id and its secret's hash, revoked ones included.
    func key(id: String) async throws -> (key: APIKey, secretHash: [UInt8])?
    func keys() async throws -> [APIKey]
    /// Returns false when no key has this id.
    func revokeKey(id: String, at: Date) async throws -> Bool
}
