import Foundation
import GRDB
import HeraldStoreKit
import HeraldStorePostgres
import HeraldStoreSQLite
import HeraldTesting
import PostgresNIO
import Testing

/// The kit names every table and column the stores have; `herald migrate-store` copies by those
/// names, so a table or column one store adds without the kit knowing would not be copied.
@Suite(.timeLimit(.minutes(2)))
struct StoreTablesTests {
    @Test(arguments: StoreKind.allCases)
    func `each store's schema is the kit's tables and columns`(kind: StoreKind) async throws {
        let schema = try await Self.schema(of: kind)
        var expected: [String: Set<String>] = [:]
        for table in StoreTables.all { expected[table.name] = Set(table.columns) }
        let copied = schema.filter { !StoreTables.notCopied.contains($0.key) }
        #expect(Set(copied.keys) == Set(expected.keys))
        for (table, columns) in copied {
            let known = expected[table, default: []]
            #expect(known.subtracting(columns) == [], "\(table) lacks columns the kit names")
            #expect(columns.subtracting(known).subtracting(StoreTables.filledOnCopy[table, default: []]) == [], "\(table)")
        }
    }

    /// Each table of a new store of `kind`, with its columns.
    static func schema(of kind: StoreKind) async throws -> [String: Set<String>] {
        switch kind {
        case .sqlite:
            return try await withTemporaryDirectory { directory in
                let path = directory.appendingPathComponent("herald.db").path
                _ = try SQLiteEmailStore.open(path: path)
                return try DatabaseQueue(path: path).read { db in
                    let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                    return try Dictionary(
                        uniqueKeysWithValues: tables.map { table in
                            (table, Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])))
                        })
                }
            }
        case .postgres:
            var schema: [String: Set<String>] = [:]
            try await PostgresTestDatabase.withClient { client in
                let logger = PostgresTestDatabase.logger
                try await PostgresEmailStore(client: client, logger: logger, timeout: PostgresTestDatabase.storeTimeout).migrate()
                let rows = try await client.query(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()",
                    logger: logger)
                for try await (table, column) in rows.decode((String, String).self) { schema[table, default: []].insert(column) }
            }
            return schema
        }
    }
}
