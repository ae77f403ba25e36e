import Foundation
import HeraldCore
import HeraldStorePostgres
import HeraldStoreSQLite
import HeraldTesting
import Logging
import PostgresNIO
import Testing

/// The stores every conformance test runs against: the same tests, parameterized by store.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// Runs `body` with a new, empty store of this kind: SQLite in a temporary directory,
    /// PostgreSQL in a database of its own on the server that `scripts/test` starts, dropped
    /// afterwards.
    func withStore(now: Date = Date(), _ body: (any HeraldStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            try await withTemporaryDirectory { directory in
                try await body(try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path, now: now))
            }
        case .postgres:
            try await PostgresTestDatabase.withStore(body)
        }
    }
}

/// A database of its own for each test, so that tests run in parallel on one server.
enum PostgresTestDatabase {
    static let logger: Logger = {
        // A cancelled client reports the connections it was opening; that is not news here.
        var logger = Logger(label: "herald.test.postgres")
        logger.logLevel = .warning
        return logger
    }()

    static func configuration(database: String) throws -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: try Peers.require("HERALD_TEST_POSTGRES_HOST"), port: Int(try Peers.require("HERALD_TEST_POSTGRES_PORT")) ?? 5432,
            username: try Peers.require("HERALD_TEST_POSTGRES_USER"), password: nil, database: database, tls: .disable)
    }

    /// A client of a new database, running while `body` does; the database is dropped after.
    /// `maximumConnections` caps the client's pool.
    static func withClient(maximumConnections: Int? = nil, _ body: (PostgresClient) async throws -> Void) async throws {
        let name = "herald_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        let administration = PostgresClient(
            configuration: try configuration(database: try Peers.require("HERALD_TEST_POSTGRES_DATABASE")), backgroundLogger: logger)
        try await run(administration) { administration in
            try await administration.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            do {
                var configuration = try configuration(database: name)
                if let maximumConnections { configuration.options.maximumConnections = maximumConnections }
                try await run(PostgresClient(configuration: configuration, backgroundLogger: logger), body)
            } catch {
                _ = try? await administration.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
                throw error
            }
            try await administration.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
        }
    }

    /// The stores' timeout in these tests, which check what a store keeps, not how fast: with
    /// every suite at once on two cores, a statement behind a `CREATE DATABASE` can wait longer
    /// than the 2 s a server gives it.
    static let storeTimeout: Duration = .seconds(60)

    static func withStore(_ body: (any HeraldStore) async throws -> Void) async throws {
        try await withClient { client in
            let store = PostgresEmailStore(client: client, logger: logger, timeout: storeTimeout)
            try await store.migrate()
            try await body(store)
        }
    }

    /// Runs `client` while `body` does, and stops it after.
    static func run(_ client: PostgresClient, _ body: (PostgresClient) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}

extension WebhookEndpoint {
    /// The endpoint `hook` of `tenant`, wanting `types` (every type for none), as store tests make it.
    static func hook(tenant: String = "acme", types: Set<WebhookEventType> = [], at date: Date) -> WebhookEndpoint {
        WebhookEndpoint(
            id: "hook", tenant: tenant, url: "https://hooks.example/hook", eventTypes: types, createdAt: date, updatedAt: date)
    }
}
