// HeraldStorePostgres keeps Herald's queue, history and shared state in PostgreSQL, so that
// several Herald processes can serve one queue.
import Foundation
import HeraldCore
import Logging
import PostgresNIO

/// ``EmailStore`` on PostgreSQL, for many Herald nodes at once.
///
/// Every write is a transaction that returns once committed. Nodes lease due emails with
/// `FOR UPDATE SKIP LOCKED`, so that two never take the same one; a node that stops keeps its
/// leases until they expire, and then the others take its emails. Times are kept as
/// milliseconds since 1970, as in the SQLite store.
///
/// The store does not run its `PostgresClient`: whoever owns the client runs it (as a
/// `Service` of the process's group, or in a task), before and while the store is used.
public final class PostgresEmailStore: EmailStore {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Runs `body` in one transaction. Errors it throws come out as they were thrown, not
    /// wrapped, so that callers see ``StoreError``s as such.
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.commitError ?? error.beginError ?? error
        }
    }

    public func checkWritable() async throws {
        let rows = try await client.query("SELECT pg_is_in_recovery()", logger: logger)
        for try await inRecovery in rows.decode(Bool.self) where inRecovery {
            throw StoreError(.unavailable, "the PostgreSQL server is a read-only standby")
        }
    }
}

extension PostgresConnection {
    /// Runs a statement whose rows, if any, are not needed.
    func execute(_ query: PostgresQuery, logger: Logger) async throws {
        try await self.query(query, logger: logger).consume()
    }
}

extension PostgresRowSequence {
    /// Reads and drops every row, so that the connection is free for the next statement.
    func consume() async throws {
        for try await _ in self {}
    }
}
