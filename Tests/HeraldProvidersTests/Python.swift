import Foundation

/// Runs a Python script with `python3` and returns what it printed; the test suite uses it to
/// compare Herald with reference implementations (botocore, the `email` package).
enum Python {
    struct Failure: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "python3 failed: \(stderr)" }
    }

    static func run(_ script: String, arguments: [String] = []) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(stderr: String(decoding: message, as: UTF8.self)) }
        return data
    }

    static func json(_ script: String, arguments: [String] = []) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: run(script, arguments: arguments)) as? [String: Any] ?? [:]
    }
}
