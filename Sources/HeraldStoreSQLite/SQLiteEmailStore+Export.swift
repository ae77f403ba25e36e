import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore {
    /// Reads every row of `table` in pages of `pageSize`, each row's `columns` in that order,
    /// ordered by its first `keyColumns` columns, which must be its primary key.
    public func exportRows(
        of table: String, keyColumns: Int, columns: [String], pageSize: Int = 500, _ handle: ([[StoreValue]]) async throws -> Void
    ) async throws {
        let order = columns.prefix(keyColumns).joined(separator: ", ")
        var offset = 0
        while true {
            let sql = "SELECT \(columns.joined(separator: ", ")) FROM \(table) ORDER BY \(order) LIMIT ? OFFSET ?"
            let arguments: StatementArguments = [pageSize, offset]
            let page = try await pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    columns.indices.map { Self.value(row[$0] as DatabaseValue) }
                }
            }
            guard !page.isEmpty else { return }
            try await handle(page)
            offset += page.count
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
