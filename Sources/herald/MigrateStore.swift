import ArgumentParser
import HeraldServer
import Logging

/// `herald migrate-store`: moves a single node's SQLite store into PostgreSQL, for going from
/// one node to several. Stop the server that uses the SQLite file first.
struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy a SQLite store (emails, history, keys, suppressions, provider state) into an empty PostgreSQL store.")

    @Option(help: "sqlite:PATH, the SQLite database to copy (no server may be using it).")
    var from: String

    @Option(help: "postgres:URL, as store.postgres.url, e.g. postgres:postgres://herald@db:5432/herald.")
    var to: String

    func run() async throws {
        guard from.hasPrefix("sqlite:"), to.hasPrefix("postgres:") else {
            throw ValidationError("give --from sqlite:PATH and --to postgres:URL")
        }
        let configuration = try loadConfiguration(flags: ["store.postgres.url": String(to.dropFirst("postgres:".count))])
        var logger = Logger(label: "herald")
        logger.logLevel = .error
        let copied = try await HeraldServer.copySQLiteStore(
            at: String(from.dropFirst("sqlite:".count)), to: configuration, logger: logger)
        for (table, rows) in copied { print("\(table): \(rows)") }
    }
}
