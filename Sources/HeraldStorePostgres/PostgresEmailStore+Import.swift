import Foundation
import HeraldCore
import Logging
import PostgresNIO

extension PostgresEmailStore {
    /// Writes rows into the store's tables, all in one transaction: `herald migrate-store`.
    public struct Importer: Sendable {
        let connection: PostgresConnection
        let logger: Logger

        /// Inserts `rows` into `table`; `events` keep their sequence numbers.
        public func insert(_ rows: [[StoreValue]], into table: String, columns: [String]) async throws {
            let placeholders = columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
            let overriding = table == "events" ? " OVERRIDING SYSTEM VALUE" : ""
            let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", ")))\(overriding) VALUES (\(placeholders))"
            for row in rows {
                var bindings = PostgresBindings()
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
                try await connection.execute(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            }
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
