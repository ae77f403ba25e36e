import ArgumentParser
import HeraldServer
import Logging

/// `herald migrate`: brings the store's schema up to date without serving, for deployments
/// that migrate before they start new nodes. `herald serve` migrates at start as well.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Create or update the store's tables, then exit.")

    @Option(help: "A YAML or JSON configuration file (also HERALD_CONFIG).")
    var config: String?

    func run() async throws {
        var flags: [String: String] = [:]
        if let config { flags["config"] = config }
        let configuration = try loadConfiguration(flags: flags)
        try await HeraldServer.withStore(configuration, access: .alongside, logger: Logger(label: "herald")) { _ in }
        print(configuration.postgres == nil ? "migrated \(configuration.sqlitePath)" : "migrated the PostgreSQL store")
    }
}
