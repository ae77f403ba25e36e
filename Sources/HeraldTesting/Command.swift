import Foundation

/// Runs programs to their end for the tests: openssl, Python tools, the herald binary.
public enum Command {
    public struct Result: Sendable {
        public let status: Int32
        /// Standard output.
        public let output: String
        /// Standard error.
        public let errors: String
    }

    /// Runs `program`, found on the PATH unless it is a path, and waits for it to end. Its output
    /// goes through files rather than pipes, so that a chatty program never blocks on a full pipe.
    public static func run(
        _ program: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil
    ) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("command-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputFile = scratch.appendingPathComponent("stdout")
        let errorsFile = scratch.appendingPathComponent("stderr")
        for file in [outputFile, errorsFile] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }

        let process = Process()
        if program.contains("/") {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorsFile)
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, output: try String(contentsOf: outputFile, encoding: .utf8),
            errors: try String(contentsOf: errorsFile, encoding: .utf8))
    }
}
