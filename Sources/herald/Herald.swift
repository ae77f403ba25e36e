// The `herald` executable: subcommands that parse their flags and hand over to the libraries.
import ArgumentParser
import Foundation
import HeraldServer

/// Every command names itself: without a `commandName`, ArgumentParser derives the name from
/// the type's description, a search of the binary's protocol conformances at every start.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "A resilient email delivery service: accepts emails over HTTP and delivers them through healthy providers.",
        subcommands: [
            Serve.self, Send.self, Status.self, Providers.self, Keys.self, Migrate.self, MigrateStore.self, Backup.self, Restore.self,
            Archive.self, Drill.self,
        ]
    )
}

/// Reads the configuration for a subcommand; a setting Herald cannot use ends the command with
/// its key named on standard error and exit code 2.
func loadConfiguration(flags: [String: String]) throws -> HeraldConfiguration {
    do {
        return try HeraldConfiguration(flags: flags)
    } catch {
        FileHandle.standardError.write(Data("herald: \(error)\n".utf8))
        throw ExitCode(2)
    }
}
