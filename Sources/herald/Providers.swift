import ArgumentParser
import Foundation
import HeraldCore
import HeraldServer

struct Providers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "providers",
        abstract: "Work with the configured providers.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check each provider's credentials and reachability without sending mail.",
            discussion: """
                Prints one line per provider: ok, failed (with the error class and code), or unknown for \
                adapters that cannot check without sending mail. Exits 1 when any provider fails its check.
                """
        )

        @Option(help: "A YAML or JSON configuration file (also HERALD_CONFIG).")
        var config: String?

        func run() async throws {
            let configuration = try loadConfiguration(flags: config.map { ["config": $0] } ?? [:])
            let checks = try await HeraldServer.checkProviders(configuration: configuration)
            for check in checks {
                if let failure = check.failure {
                    print("failed  \(check.name) (\(check.kind)): \(failure.errorClass.rawValue) \(failure.code): \(failure.message)")
                } else if check.checked {
                    print("ok      \(check.name) (\(check.kind))")
                } else {
                    print("unknown \(check.name) (\(check.kind)): this adapter cannot check without sending mail")
                }
            }
            if checks.contains(where: { $0.failure != nil }) { throw ExitCode(1) }
        }
    }
}
