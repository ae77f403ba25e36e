import Foundation
import HeraldTesting

/// Runs a Python script with `python3` and returns what it printed; the test suite uses it to
/// compare Herald with reference implementations (botocore, the `email` package).
enum Python {
    struct Failure: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "python3 failed: \(stderr)" }
    }

    static func run(_ script: String, arguments: [String] = []) throws -> Data {
        let result = try Command.run("python3", ["-c", script] + arguments)
        guard result.status == 0 else { throw Failure(stderr: result.errors) }
        return Data(result.output.utf8)
    }

    static func json(_ script: String, arguments: [String] = []) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: run(script, arguments: arguments)) as? [String: Any] ?? [:]
    }
}
