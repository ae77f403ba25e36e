import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore: APIKeyStore {
    public func saveKey(_ key: APIKey, secretHash: [UInt8]) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, tenant, scope, secret_hash, created_at, revoked_at, rate_per_second)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.id, key.tenant, key.scope.rawValue, Data(secretHash), key.createdAt.milliseconds, key.revokedAt?.milliseconds,
                    key.ratePerSecond,
                ]
            )
        }
    }

    public func key(id: String) async throws -> (key: APIKey, secretHash: [UInt8])? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM api_keys WHERE id = ?"), arguments: [id]).map { row in
                (Self.key(from: row), [UInt8](row["secret_hash"] as Data))
            }
        }
    }

    public func keys() async throws -> [APIKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at, id").map(Self.key(from:))
        }
    }

    public func revokeKey(id: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [at.milliseconds, id])
            return db.changesCount > 0
        }
    }

    private static func key(from row: Row) -> APIKey {
        let revokedAt: Int64? = row["revoked_at"]
        return APIKey(
            id: row["id"], tenant: row["tenant"], scope: APIKey.Scope(rawValue: row["scope"]) ?? .read,
            createdAt: Date(milliseconds: row["created_at"]), revokedAt: revokedAt.map(Date.init(milliseconds:)),
            ratePerSecond: row["rate_per_second"])
    }
}
