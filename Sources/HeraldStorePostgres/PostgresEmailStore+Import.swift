import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Writes rows into the store's tables, all in one transaction: `herald migrate-store`.
    public struct Importer: Sendable {
        let connection: PostgresConnection
        let logger: Logger

        /// Inserts `rows` into `table`, as many in one statement as its parameters allow;
        /// `events` keep their sequence numbers.
        public func insert(_ rows: [[StoreValue]], into table: String, columns: [String]) async throws {
            // A statement carries at most 65,535 parameters (the protocol counts them in 16 bits).
            let rowsPerStatement = max(1, Int(UInt16.max) / max(1, columns.count))
            var start = rows.startIndex
            while start < rows.endIndex {
                let statementRows = rows[start..<min(start + rowsPerStatement, rows.endIndex)]
                try await connection.execute(Self.insertion(of: statementRows, into: table, columns: columns), logger: logger)
                start = statementRows.endIndex
            }
        }

        private static func insertion(of rows: ArraySlice<[StoreValue]>, into table: String, columns: [String]) throws -> PostgresQuery {
            var bindings = PostgresBindings(capacity: rows.count * columns.count)
            var tuples: [String] = []
            tuples.reserveCapacity(rows.count)
            for row in rows {
                let first = bindings.count + 1
                tuples.append("(" + (first..<first + row.count).map { "$\($0)" }.joined(separator: ", ") + ")")
                for value in row {
                    switch value {
                    case .null: bindings.appendNull()
                    case .integer(let integer): bindings.append(integer)
                    case .real(let real): bindings.append(real)
                    case .text(let text): bindings.append(text)
                    case .blob(let data): try bindings.append(data)
                    case .boolean(let flag): bindings.append(flag)
                    case .texts(let texts): bindings.append(texts)
                    }
                }
            }
            let overriding = table == "events" ? " OVERRIDING SYSTEM VALUE" : ""
            let target = "\(table) (\(columns.joined(separator: ", ")))\(overriding)"
            return PostgresQuery(unsafeSQL: "INSERT INTO \(target) VALUES \(tuples.joined(separator: ", "))", binds: bindings)
        }
    }

    /// Runs `body` with an importer into this store, which must hold no email yet, in one
    /// transaction; then the event sequence continues after the imported events, and emails
    /// that were being delivered are due at once.
    public func importAll(now: Date, _ body: (Importer) async throws -> Void) async throws {
        try await longTransaction { connection in
            for try await count in try await connection.query("SELECT count(*) FROM emails", logger: logger).decode(Int.self)
            where count > 0 {
                throw StoreError(.invalidTransition, "the PostgreSQL store holds emails already; migrate into an empty one")
            }
            try await body(Importer(connection: connection, logger: logger))
            try await connection.execute(
                "SELECT setval(pg_get_serial_sequence('events', 'seq'), COALESCE((SELECT max(seq) FROM events), 0) + 1, false)",
                logger: logger)
            try await connection.execute(
                """
                UPDATE emails SET due_at = \(now.milliseconds), lease_owner = NULL WHERE status = 'sending'
                """,
                logger: logger)
        }
    }
}
