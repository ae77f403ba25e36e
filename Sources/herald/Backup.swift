import ArgumentParser
import Foundation
import HeraldServer

/// `herald backup`: a consistent copy of a SQLite store, taken while the server runs.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the SQLite store into a new file while the server runs; the copy is checked before it takes its name.")

    @OptionGroup var store: Keys.StoreOptions

    @Option(help: "The backup file to create; it must not exist.")
    var to: String

    func run() async throws {
        let configuration = try store.configuration()
        let result = try failuresAsExitCode { try HeraldServer.backUpStore(configuration, to: to) }
        print("backed up \(result.emails) emails (\(result.bytes) bytes) to \(to)")
        if let key = result.webhookKeyCopy {
            print("the webhook key that seals its endpoints' secrets is in \(key): keep it as safe as the backup")
        }
    }
}

/// `herald restore`: puts a backup in place of the SQLite store, with no server running.
struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place of the SQLite store; refused while a server uses the store.")

    @OptionGroup var store: Keys.StoreOptions

    @Option(help: "The backup file, made by herald backup.")
    var from: String

    @Flag(help: "Replace an existing store.")
    var replace = false

    func run() async throws {
        let configuration = try store.configuration()
        let emails = try failuresAsExitCode { try HeraldServer.restoreStore(configuration, from: from, replacing: replace) }
        print("restored \(emails) emails from \(from)")
    }
}

/// Runs `body`; what stopped it (a refusal, or SQLite's error) is printed on standard error,
/// with exit code 1.
private func failuresAsExitCode<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        FileHandle.standardError.write(Data("herald: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
