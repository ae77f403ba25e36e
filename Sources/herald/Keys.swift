import ArgumentParser
import Foundation
import HeraldAPI
import HeraldCore
import HeraldServer
import Logging

/// `herald keys`: API keys, kept in the store with the queue. These commands may run while
/// `herald serve` uses the store.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct StoreOptions: ParsableArguments {
        @Option(help: "The SQLite database (default: store.sqlite.path from the configuration; store.postgres.url for PostgreSQL).")
        var database: String?

        @Option(help: "A YAML or JSON configuration file.")
        var config: String?

        /// The configuration, with `--database` in place of its SQLite path.
        func configuration() throws -> HeraldConfiguration {
            var flags: [String: String] = [:]
            if let config { flags["config"] = config }
            if let database { flags["store.sqlite.path"] = database }
            return try loadConfiguration(flags: flags)
        }

        /// Runs `body` with the configured store, beside a server that may be using it.
        func withStore<Result: Sendable>(_ body: (any HeraldStore) async throws -> Result) async throws -> Result {
            var logger = Logger(label: "herald")
            logger.logLevel = .error
            return try await HeraldServer.withStore(try configuration(), access: .alongside, logger: logger, body)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Make a key and print it; it is shown only this once.")

        @OptionGroup var store: StoreOptions

        @Option(help: "The tenant whose emails the key sends and sees.")
        var tenant = APIKey.defaultTenant

        @Option(
            help:
                "read, send (also reads and cancels), admin (also bulk retry and cancel of its tenant) or operator (also the providers of the whole installation)."
        )
        var scope: APIKey.Scope = .send

        @Option(help: "Requests per second for this key, from 0.01 to 1000000 (default: http.rate_limit_per_second).")
        var ratePerSecond: Double?

        func validate() throws {
            if let ratePerSecond, !APIKey.rateRange.contains(ratePerSecond) {
                throw ValidationError("--rate-per-second must be from 0.01 to 1000000, not \(ratePerSecond)")
            }
        }

        func run() async throws {
            let (key, secret) = try await store.withStore { store in
                try await APIKeys.create(tenant: tenant, scope: scope, ratePerSecond: ratePerSecond, in: store, now: Date())
            }
            FileHandle.standardError.write(Data("created key \(key.id) (\(key.scope.rawValue), tenant \(key.tenant)):\n".utf8))
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the keys: id, scope, tenant, created, revoked.")

        @OptionGroup var store: StoreOptions

        func run() async throws {
            for key in try await store.withStore({ try await $0.keys() }) {
                let revoked = key.revokedAt.map { "  revoked \($0.formatted(.iso8601))" } ?? ""
                print("\(key.id)  \(key.scope.rawValue)  \(key.tenant)  created \(key.createdAt.formatted(.iso8601))\(revoked)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key: it is refused from now on.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The key's id, as herald keys list shows it.")
        var id: String

        func run() async throws {
            guard try await store.withStore({ try await $0.revokeKey(id: id, at: Date()) }) else {
                FileHandle.standardError.write(Data("herald: no key has the id \(id)\n".utf8))
                throw ExitCode(1)
            }
            print("revoked \(id)")
        }
    }
}

extension APIKey.Scope: ExpressibleByArgument {}
