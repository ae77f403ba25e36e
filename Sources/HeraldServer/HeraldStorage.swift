import HeraldCore
import HeraldStorePostgres
import HeraldStoreSQLite
import Logging
import NIOSSL
import PostgresNIO

extension HeraldServer {
    /// How a command uses the store.
    public enum StoreAccess: Sendable {
        /// `herald serve`: the one process that delivers from a SQLite file, which it locks and
        /// whose leases it takes back at start.
        case serving
        /// `herald keys` and `herald migrate`, which may run beside a serving process.
        case alongside
    }

    /// Opens the configured store, brings its schema up to date and runs `body` with it: the
    /// SQLite file, or PostgreSQL through a client that runs until `body` returns, so that it
    /// stops after every service that uses it.
    public static func withStore<Result: Sendable>(
        _ configuration: HeraldConfiguration, access: StoreAccess, logger: Logger,
        _ body: (any HeraldStore) async throws -> Result
    ) async throws -> Result {
        guard let postgres = configuration.postgres else {
            let store =
                switch access {
                case .serving: try SQLiteEmailStore.open(path: configuration.sqlitePath)
                case .alongside: try SQLiteEmailStore.openForKeys(path: configuration.sqlitePath)
                }
            return try await body(store)
        }
        // postgres-nio traces the messages it exchanges with the server, rows and binds with
        // them: addresses and subjects. Its logger stops at info, whatever Herald's level.
        var databaseLogger = logger
        databaseLogger.logLevel = max(logger.logLevel, .info)
        let store = PostgresEmailStore(
            configuration: postgresConfiguration(postgres), probe: try probeConfiguration(postgres), logger: databaseLogger,
            timeout: configuration.storeTimeout)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    static func postgresConfiguration(_ postgres: HeraldConfiguration.Postgres) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch postgres.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: postgres.host, port: postgres.port, username: postgres.username, password: postgres.password,
            database: postgres.database, tls: tls)
        configuration.options.maximumConnections = postgres.maxConnections
        return configuration
    }

    /// The same server for a single connection outside the pool, which checks whether it
    /// answers while the pool waits to reconnect.
    static func probeConfiguration(_ postgres: HeraldConfiguration.Postgres) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch postgres.tls {
            case .disable: .disable
            case .prefer: .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: .require(try .init(configuration: .makeClientConfiguration()))
            }
        return PostgresConnection.Configuration(
            host: postgres.host, port: postgres.port, username: postgres.username, password: postgres.password,
            database: postgres.database, tls: tls)
    }
}
