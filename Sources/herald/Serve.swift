import ArgumentParser
import Foundation
import HeraldServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API and the dispatcher in one process.",
        discussion: """
            Settings come from flags, then HERALD_* environment variables (HERALD_HTTP_PORT for \
            http.port), then the configuration file. With none of them Herald listens on \
            127.0.0.1:8025, keeps its queue in ./herald.db and delivers through two sandbox \
            providers. docs/configuration.md lists every key.
            """
    )

    @Option(help: "A YAML or JSON configuration file (also HERALD_CONFIG).")
    var config: String?

    @Option(help: "Address to listen on (http.host, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (http.port, default 8025).")
    var port: Int?

    @Option(help: "SQLite database file (store.sqlite.path, default herald.db; store.postgres.url selects PostgreSQL instead).")
    var database: String?

    @Option(help: "Deliveries in flight at most (dispatch.concurrency, default 32).")
    var concurrency: Int?

    @Option(help: "json or text (log.format, default json).")
    var logFormat: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (log.level, default info).")
    var logLevel: String?

    func run() async throws {
        let flags: [String: String?] = [
            "config": config,
            "http.host": host,
            "http.port": port.map(String.init),
            "store.sqlite.path": database,
            "dispatch.concurrency": concurrency.map(String.init),
            "log.format": logFormat,
            "log.level": logLevel,
        ]
        let configuration = try loadConfiguration(flags: flags.compactMapValues { $0 })
        // A closed standard output must fail a log write, not end the process (LogOutput).
        signal(SIGPIPE, SIG_IGN)

        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: configuration.logFormat)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "herald")
        if configuration.usesBuiltInSandboxes {
            logger.warning(
                "no configuration file and no HERALD_PROVIDERS_* variable: delivering to the built-in sandboxes, which discard every email",
                metadata: ["providers": "\(configuration.providers.map(\.name).joined(separator: ","))"])
        }

        do {
            try await HeraldServer.withStore(configuration, access: .serving, logger: logger) { store in
                let server = try await HeraldServer.build(configuration: configuration, store: store, logger: logger)
                logger.info(
                    "herald started",
                    metadata: ["http.host": "\(configuration.http.host)", "http.port": "\(configuration.http.port)"]
                )
                do {
                    try await server.run()
                } catch {
                    throw RunFailure(error: error)
                }
            }
            await LogOutput.standardOutput.flush(timeout: .seconds(2))
        } catch let failure as RunFailure {
            await LogOutput.standardOutput.flush(timeout: .seconds(2))
            throw failure.error
        } catch {
            FileHandle.standardError.write(Data("herald: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// A failure of the running server, as opposed to one that kept it from starting.
    private struct RunFailure: Error {
        let error: any Error
    }
}
