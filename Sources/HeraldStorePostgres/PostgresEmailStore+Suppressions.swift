import Foundation
import HeraldCore
import Logging
import PostgresNIO

extension PostgresEmailStore: SuppressionStore {
    public func suppressions(tenant: String, limit: Int, after cursor: String?) async throws -> [Suppression] {
        let after = cursor.map(Suppression.key(of:))
        let rows = try await query(
            """
            \(unescaped: Self.suppressionColumns) WHERE tenant = \(tenant) AND (\(after)::text IS NULL OR address > \(after))
            ORDER BY address LIMIT \(limit)
            """)
        var suppressions: [Suppression] = []
        for row in try rows.decode(SuppressionRow.self) { suppressions.append(Self.suppression(from: row)) }
        return suppressions
    }

    public func suppression(of address: String, tenant: String) async throws -> Suppression? {
        let rows = try await query(
            "\(unescaped: Self.suppressionColumns) WHERE tenant = \(tenant) AND address = \(Suppression.key(of: address))")
        for row in try rows.decode(SuppressionRow.self) { return Self.suppression(from: row) }
        return nil
    }

    public func suppress(_ suppression: Suppression, tenant: String) async throws -> (entry: Suppression, created: Bool) {
        try await transaction { [self] connection in
            let created = try await Self.insert(suppression, tenant: tenant, on: connection, logger: logger)
            let rows = try await connection.query(
                "\(unescaped: Self.suppressionColumns) WHERE tenant = \(tenant) AND address = \(suppression.address)", logger: logger)
            var entry = suppression
            for try await row in rows.decode(SuppressionRow.self) { entry = Self.suppression(from: row) }
            return (entry, created)
        }
    }

    public func unsuppress(_ address: String, tenant: String) async throws -> Bool {
        let rows = try await committed(
            "DELETE FROM suppressions WHERE tenant = \(tenant) AND address = \(Suppression.key(of: address)) RETURNING address")
        return !rows.isEmpty
    }

    /// Adds `suppression` to the tenant's list unless its address is there already, in which
    /// case the first entry, with its reason, stays. Returns whether it was added.
    @discardableResult
    static func insert(_ suppression: Suppression, tenant: String, on connection: PostgresConnection, logger: Logger) async throws
        -> Bool
    {
        let rows = try await connection.query(
            """
            INSERT INTO suppressions (tenant, address, reason, source, email_id, event_id, created_at)
            VALUES (\(tenant), \(suppression.address), \(suppression.reason), \(suppression.source.rawValue),
                \(suppression.emailID?.rawValue), \(suppression.eventID), \(suppression.createdAt.milliseconds))
            ON CONFLICT (tenant, address) DO NOTHING RETURNING address
            """,
            logger: logger)
        var inserted = false
        for try await _ in rows { inserted = true }
        return inserted
    }

    private typealias SuppressionRow = (String, String, String, String?, String?, Int64)
    private static let suppressionColumns = "SELECT address, reason, source, email_id, event_id, created_at FROM suppressions"

    private static func suppression(from row: SuppressionRow) -> Suppression {
        Suppression(
            address: row.0, reason: row.1, source: Suppression.Source(rawValue: row.2) ?? .api, emailID: row.3.flatMap(EmailID.init),
            eventID: row.4, createdAt: Date(milliseconds: row.5))
    }
}
