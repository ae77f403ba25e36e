// HeraldStorePostgres keeps Herald's queue, history and shared state in PostgreSQL, so that
// several Herald processes can serve one queue.
import Foundation
import HeraldCore
import HeraldStoreKit
import Logging
import PostgresNIO

/// ``EmailStore`` on PostgreSQL, for many Herald nodes at once.
///
/// Every write is a transaction that returns once committed. Nodes lease due emails with
/// `FOR UPDATE SKIP LOCKED`, so that two never take the same one; a node that stops keeps its
/// leases until they expire, and then the others take its emails. Times are kept as
/// milliseconds since 1970, as in the SQLite store.
///
/// Every call has a deadline (see ``BoundedConnectionCall``). A store made from a
/// configuration runs its clients itself, in ``run()``, and replaces one whose pool lags behind
/// a server that answers again; a store made on a client leaves running it to its caller.
public final class PostgresEmailStore: EmailStore {
    let connections: Connections
    let logger: Logger
    /// Accepts from concurrent requests, written together (see ``writeAccepted(_:on:logger:)``).
    let accepts: BatchedWrites<NewEmail>
    /// Delivery rounds' records, written together (see ``writeDeliveries(_:on:logger:)``).
    let deliveries: BatchedWrites<DeliveryWrite>

    /// A store on `client`, which the caller runs. `timeout` bounds every call; past it the
    /// call throws ``StoreError`` `unavailable`.
    public convenience init(client: PostgresClient, logger: Logger, timeout: Duration = .seconds(2)) {
        self.init(connections: Connections(clients: .fixed(client), timeout: TimeAmount(timeout)), logger: logger)
    }

    /// A store that makes and runs its clients itself (see ``run()``), and replaces a client
    /// whose pool lags behind a server that answers again. `probe` is where the server is,
    /// for a connection outside the pool.
    public convenience init(
        configuration: PostgresClient.Configuration, probe: PostgresConnection.Configuration, logger: Logger,
        timeout: Duration = .seconds(2)
    ) {
        let supervisor = ClientSupervisor(
            configuration: configuration, probeConfiguration: probe, callTimeout: timeout, logger: logger)
        self.init(connections: Connections(clients: .supervised(supervisor), timeout: TimeAmount(timeout)), logger: logger)
    }

    private init(connections: Connections, logger: Logger) {
        self.connections = connections
        self.logger = logger
        let timeout = Duration.nanoseconds(connections.timeout.nanoseconds)
        self.accepts = BatchedWrites(lanes: Self.acceptLanes, itemsPerBatch: Self.emailsPerAcceptBatch, timeout: timeout) {
            emails, timeLeft in
            try await Self.writeBatch(on: connections, within: timeLeft, logger: logger) { connection in
                try await Self.writeAccepted(emails, on: connection, logger: logger)
                return Array(repeating: nil, count: emails.count)
            }
        }
        self.deliveries = BatchedWrites(lanes: Self.deliveryLanes, itemsPerBatch: Self.roundsPerDeliveryBatch, timeout: timeout) {
            writes, timeLeft in
            try await Self.writeBatch(on: connections, within: timeLeft, logger: logger) { connection in
                try await Self.writeDeliveries(writes, on: connection, logger: logger)
            }
        }
    }

    /// Runs a batch's `write` in a transaction of its own on a pooled connection within
    /// `timeLeft`. The server's refusal of it for the values it was given is thrown as
    /// ``RefusedBatch``, so that a batch of several requests is written again request by
    /// request and only the request it was about fails.
    private static func writeBatch(
        on connections: Connections, within timeLeft: Duration, logger: Logger,
        _ write: @escaping @Sendable (PostgresConnection) async throws -> [(any Error)?]
    ) async throws -> [(any Error)?] {
        guard timeLeft > .zero else {
            throw StoreError(.unavailable, "PostgreSQL did not answer within \(connections.timeout.nanoseconds / 1_000_000) ms")
        }
        let outcome = try await connections.withConnection(within: TimeAmount(timeLeft)) {
            connection -> Result<[(any Error)?], StoreError> in
            do {
                let failures = try await unwrappingErrors {
                    try await connection.withTransaction(logger: logger) { connection in try await write(connection) }
                }
                return .success(failures)
            } catch let error as PSQLError where Self.isRefusal(error) {
                return .failure(StoreError(.unavailable, "PostgreSQL refused the write: \(BoundedConnectionCall<Void>.describe(error))"))
            }
        }
        switch outcome {
        case .success(let failures): return failures
        case .failure(let refusal): throw RefusedBatch(error: refusal)
        }
    }

    /// Whether the server refused a statement for the values it was given (SQLSTATE classes
    /// 22, data exception, and 23, integrity constraint violation) rather than failed to run it.
    private static func isRefusal(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// How long a call may take, the wait for a connection included, before it fails.
    var timeout: TimeAmount { connections.timeout }

    /// The client calls go through now.
    var client: PostgresClient { connections.client }

    /// Runs the store's own clients until cancelled; returns at once for a store on a client
    /// that its caller runs.
    public func run() async {
        await connections.supervisor?.run()
    }

    /// Runs `body` on a pooled connection within the store's timeout.
    func withConnection<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await connections.withConnection(body)
    }

    /// Runs `body` in one transaction, within the store's timeout. Errors it throws come out as
    /// they were thrown, not wrapped, so that callers see ``StoreError``s as such.
    func transaction<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { [logger] connection in
            try await Self.unwrappingErrors {
                try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        }
    }

    /// Runs `body` in one transaction with no time bound: for the schema's migrations and a
    /// store's import, which take as long as their data needs.
    func longTransaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await Self.unwrappingErrors {
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    /// Runs a transaction, throwing the error that ended it rather than postgres-nio's wrapper.
    static func unwrappingErrors<Result>(_ transaction: () async throws -> Result) async throws -> Result {
        do {
            return try await transaction()
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.commitError ?? error.beginError ?? error
        }
    }

    /// Runs one statement and reads all its rows, within the store's timeout.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection { [logger] connection in try await connection.query(query, logger: logger).collect() }
    }

    /// Runs one statement that writes something a caller is told was stored, in a transaction
    /// of its own, and reads its rows once committed. Outside a transaction block a statement
    /// commits only at the protocol's Sync, after postgres-nio has handed back its result: a
    /// server that crashed in between would lose a write its caller was told about. COMMIT
    /// answers only once committed.
    @discardableResult
    func committed(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await transaction { [logger] connection in try await connection.query(query, logger: logger).collect() }
    }

    /// Throws on a standby, and on a full disk. A full disk fails only writes that need new
    /// space, and most of Herald's reuse pages that vacuum freed; so the check empties its own
    /// table, which gives it a new file, and writes a row of two pages into it.
    public func checkWritable() async throws {
        try await transaction { [logger] connection in
            for try await inRecovery in try await connection.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self)
            where inRecovery {
                throw StoreError(.unavailable, "the PostgreSQL server is a read-only standby")
            }
            try await connection.execute("TRUNCATE herald_readiness", logger: logger)
            try await connection.execute(
                "INSERT INTO herald_readiness (filler) VALUES (decode(repeat('00', 16384), 'hex'))", logger: logger)
        }
    }
}

/// Where the store's calls get their connections: a client its caller runs, or clients the
/// store runs and replaces (``ClientSupervisor``).
struct Connections: Sendable {
    enum Clients: Sendable {
        /// Run by the store's caller.
        case fixed(PostgresClient)
        /// Run, and replaced when it lags, by the store.
        case supervised(ClientSupervisor)
    }

    let clients: Clients
    /// How long a call may take, the wait for a connection included, before it fails.
    let timeout: TimeAmount

    /// The client calls go through now.
    var client: PostgresClient {
        switch clients {
        case .fixed(let client): client
        case .supervised(let supervisor): supervisor.client
        }
    }

    var supervisor: ClientSupervisor? {
        if case .supervised(let supervisor) = clients { supervisor } else { nil }
    }

    /// Runs `body` on a pooled connection within `timeout`, or the shorter time given.
    func withConnection<Result: Sendable>(
        within timeLeft: TimeAmount? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await BoundedConnectionCall.run(on: client, supervisedBy: supervisor, timeout: min(timeLeft ?? timeout, timeout), body)
    }
}

extension [PostgresRow] {
    /// Every row's columns as `columns`.
    func decode<each Column: PostgresDecodable>(_ columns: (repeat each Column).Type) throws -> [(repeat each Column)] {
        try map { try $0.decode(columns) }
    }

    func decode<Column: PostgresDecodable>(_ column: Column.Type) throws -> [Column] {
        try map { try $0.decode(column) }
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
