import Foundation
import HeraldCore
import PostgresNIO

extension PostgresEmailStore: APIKeyStore {
    public func saveKey(_ key: APIKey, secretHash: [UInt8]) async throws {
        try await committed(
            """
            INSERT INTO api_keys (id, tenant, scope, secret_hash, created_at, revoked_at, rate_per_second)
            VALUES (\(key.id), \(key.tenant), \(key.scope.rawValue), \(Data(secretHash)), \(key.createdAt.milliseconds),
                \(key.revokedAt?.milliseconds), \(key.ratePerSecond))
            """)
    }

    public func key(id: String) async throws -> (key: APIKey, secretHash: [UInt8])? {
        let rows = try await query("\(unescaped: Self.keyColumns) WHERE id = \(id)")
        for row in try rows.decode(KeyRow.self) { return (Self.key(from: row), [UInt8](row.6)) }
        return nil
    }

    public func keys() async throws -> [APIKey] {
        let rows = try await query("\(unescaped: Self.keyColumns) ORDER BY created_at, id")
        var keys: [APIKey] = []
        for row in try rows.decode(KeyRow.self) { keys.append(Self.key(from: row)) }
        return keys
    }

    public func revokeKey(id: String, at: Date) async throws -> Bool {
        let rows = try await committed(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, \(at.milliseconds)) WHERE id = \(id) RETURNING id")
        return !rows.isEmpty
    }

    private typealias KeyRow = (String, String, String, Int64, Int64?, Double?, Data)
    private static let keyColumns = "SELECT id, tenant, scope, created_at, revoked_at, rate_per_second, secret_hash FROM api_keys"

    private static func key(from row: KeyRow) -> APIKey {
        APIKey(
            id: row.0, tenant: row.1, scope: APIKey.Scope(rawValue: row.2) ?? .read, createdAt: Date(milliseconds: row.3),
            revokedAt: row.4.map(Date.init(milliseconds:)), ratePerSecond: row.5)
    }
}
