import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit

extension SQLiteEmailStore {
    /// Reads every row of `table` in pages of `pageSize`, each row's `columns` in that order,
    /// ordered by its first `keyColumns` columns, which must be its primary key. Each page starts
    /// after the last key of the one before, so that a page costs the same at the end of a large
    /// table as at its start (an offset would walk every row before it).
    public func exportRows(
        of table: String, keyColumns: Int, columns: [String], pageSize: Int = 500, _ handle: ([[StoreValue]]) async throws -> Void
    ) async throws {
        let key = columns.prefix(keyColumns).joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: keyColumns).joined(separator: ", ")
        let select = "SELECT \(columns.joined(separator: ", ")) FROM \(table)"
        let firstPage = "\(select) ORDER BY \(key) LIMIT ?"
        let nextPage = "\(select) WHERE (\(key)) > (\(placeholders)) ORDER BY \(key) LIMIT ?"
        var lastKey: [DatabaseValue]?
        while true {
            let (sql, arguments): (String, StatementArguments) =
                if let lastKey { (nextPage, StatementArguments(lastKey + [pageSize.databaseValue])) } else { (firstPage, [pageSize]) }
            let rows = try await pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in columns.indices.map { row[$0] as DatabaseValue } }
            }
            guard let last = rows.last else { return }
            try await handle(rows.map { $0.map(Self.value) })
            lastKey = Array(last.prefix(keyColumns))
        }
    }

    private static func value(_ value: DatabaseValue) -> StoreValue {
        switch value.storage {
        case .null: .null
        case .int64(let integer): .integer(integer)
        case .double(let real): .real(real)
        case .string(let text): .text(text)
        case .blob(let data): .blob(data)
        }
    }
}
