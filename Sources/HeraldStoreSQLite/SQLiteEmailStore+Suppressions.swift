import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore: SuppressionStore {
    public func suppressions(tenant: String, limit: Int, after cursor: String?) async throws -> [Suppression] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM suppressions WHERE tenant = ?1 AND (?2 IS NULL OR address > ?2) ORDER BY address LIMIT ?3",
                arguments: [tenant, cursor.map(Suppression.key(of:)), limit]
            ).map(Self.suppression(from:))
        }
    }

    public func suppression(of address: String, tenant: String) async throws -> Suppression? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM suppressions WHERE tenant = ? AND address = ?", arguments: [tenant, Suppression.key(of: address)]
            ).map(Self.suppression(from:))
        }
    }

    public func suppress(_ suppression: Suppression, tenant: String) async throws -> (entry: Suppression, created: Bool) {
        try await write { db in
            let created = try Self.insert(suppression, tenant: tenant, into: db)
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM suppressions WHERE tenant = ? AND address = ?", arguments: [tenant, suppression.address])
            return (row.map(Self.suppression(from:)) ?? suppression, created)
        }
    }

    public func unsuppress(_ address: String, tenant: String) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM suppressions WHERE tenant = ? AND address = ?", arguments: [tenant, Suppression.key(of: address)])
            return db.changesCount > 0
        }
    }

    /// Adds `suppression` to the tenant's list unless its address is there already, in which
    /// case the first entry, with its reason, stays. Returns whether it was added.
    @discardableResult
    static func insert(_ suppression: Suppression, tenant: String, into db: Database) throws -> Bool {
        try db.executeCached(
            sql: """
                INSERT INTO suppressions (tenant, address, reason, source, email_id, event_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant, address) DO NOTHING
                """,
            arguments: [
                tenant, suppression.address, suppression.reason, suppression.source.rawValue, suppression.emailID?.rawValue,
                suppression.eventID, suppression.createdAt.milliseconds,
            ]
        )
        return db.changesCount > 0
    }

    private static func suppression(from row: Row) -> Suppression {
        let emailID: String? = row["email_id"]
        return Suppression(
            address: row["address"], reason: row["reason"], source: Suppression.Source(rawValue: row["source"]) ?? .api,
            emailID: emailID.flatMap(EmailID.init), eventID: row["event_id"], createdAt: Date(milliseconds: row["created_at"]))
    }
}
