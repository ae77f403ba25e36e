import Foundation
import HeraldCore
import HeraldStoreKit
import HeraldStorePostgres
import HeraldStoreSQLite
import Logging

extension HeraldServer {
    /// Copies everything a SQLite store holds (emails with their content and history, provider
    /// states and send counts, API keys, idempotency keys, suppressions) into an empty PostgreSQL
    /// store, in one transaction, and returns how many rows each table got. The SQLite file is
    /// opened as a serving process opens it, so the copy fails while a server uses it.
    public static func copySQLiteStore(
        at path: String, to configuration: HeraldConfiguration, logger: Logger
    ) async throws -> [(table: String, rows: Int)] {
        guard configuration.postgres != nil else { throw StoreError(.unavailable, "the target is not a PostgreSQL store") }
        // Opening a path that is not there would make a new, empty store and copy nothing.
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError(.notFound, "no SQLite store at \(path)") }
        let source = try SQLiteEmailStore.open(path: path)
        return try await withStore(configuration, access: .alongside, logger: logger) { store in
            guard let target = store as? PostgresEmailStore else { throw StoreError(.unavailable, "the target is not a PostgreSQL store") }
            var copied: [(table: String, rows: Int)] = []
            try await target.importAll(now: Date()) { importer in
                for (table, keyColumns, columns) in StoreTables.all {
                    var rows = 0
                    try await source.exportRows(of: table, keyColumns: keyColumns, columns: columns) { page in
                        let (targetColumns, converted) = try convert(page, of: table, columns: columns)
                        try await importer.insert(converted, into: table, columns: targetColumns)
                        rows += page.count
                    }
                    copied.append((table, rows))
                }
            }
            return copied
        }
    }

    /// The flags SQLite keeps as integers and PostgreSQL as booleans, by table.
    private static let booleanColumns = ["provider_state": "paused", "webhook_endpoints": "enabled", "emails": "metadata_only"]

    /// What differs between the two stores' columns: PostgreSQL keeps a content's tags in a
    /// column of their own, its activity counters in shards (all copied into the first), and
    /// flags (``booleanColumns``) as booleans.
    private static func convert(_ rows: [[StoreValue]], of table: String, columns: [String]) throws -> ([String], [[StoreValue]]) {
        switch table {
        case "email_contents":
            let converted = try rows.map { row in
                guard case .blob(let fields) = row[1] else { return row + [.texts([])] }
                let text: String? = if case .text(let value) = row[2] { value } else { nil }
                let html: String? = if case .text(let value) = row[3] { value } else { nil }
                return row + [.texts(try StoredContent(fields: fields, text: text, html: html).message().tags)]
            }
            return (columns + ["tags"], converted)
        case "activity_minutes":
            return (columns + ["shard"], rows.map { $0 + [.integer(0)] })
        case let table where booleanColumns[table] != nil:
            let flag = booleanColumns[table]
            return (
                columns,
                rows.map { row in
                    row.enumerated().map { index, value in
                        guard columns[index] == flag, case .integer(let number) = value else { return value }
                        return .boolean(number != 0)
                    }
                }
            )
        default:
            return (columns, rows)
        }
    }
}
