import ArgumentParser
import Foundation
import HeraldArchive

/// `herald archive`: what retention wrote before it removed emails.
struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive", abstract: "Check the archive files retention wrote.", subcommands: [Verify.self])

    /// `herald archive verify`: each file against its manifest.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check archive files against their manifests: size, SHA-256, and every email readable; exit 1 if any fails.")

        @Argument(help: "Archive files (.jsonl.gz) or their manifests (.manifest.json).")
        var paths: [String]

        func run() async throws {
            var failed = false
            for path in paths {
                do {
                    let result = try ArchiveCheck.verify(path)
                    print("ok      \(path): \(result.manifest.emails) emails of \(result.manifest.tenant) on \(result.manifest.day)")
                } catch {
                    print("failed  \(path): \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
