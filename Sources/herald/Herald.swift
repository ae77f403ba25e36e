// The `herald` executable: subcommands that parse their flags and hand over to the libraries.
import ArgumentParser
import Foundation
import HeraldServer
import NIOCore
import NIOPosix

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "A resilient email delivery service: accepts emails over HTTP and delivers them through healthy providers.",
        subcommands: [Serve.self, Send.self, Status.self, Providers.self, Keys.self, Migrate.self, MigrateStore.self, Drill.self]
    )

    /// Runs Swift concurrency's tasks on NIO's event loops, the threads that also do the
    /// sockets' I/O, instead of a second pool of threads. A delivery's task then reads its SMTP
    /// replies and HTTP responses on the thread it runs on; with two pools, every reply woke a
    /// thread of the other. In the SMTP benchmark this cut context switches from about 4.6 to
    /// 1 per email. Nothing in Herald blocks a task's thread: SQLite and file writes run on
    /// threads of their own.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}

/// Reads the configuration for a subcommand; a setting Herald cannot use ends the command with
/// its key named on standard error and exit code 2.
func loadConfiguration(flags: [String: String]) throws -> HeraldConfiguration {
    do {
        return try HeraldConfiguration(reader: HeraldConfiguration.reader(flags: flags))
    } catch {
        FileHandle.standardError.write(Data("herald: \(error)\n".utf8))
        throw ExitCode(2)
    }
}
