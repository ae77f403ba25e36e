import Foundation

/// Addresses of the real servers that `scripts/test` starts for the tests.
public enum Peers {
    /// The value of an environment variable that `scripts/test` sets, or a failure that says so.
    public static func require(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw MissingPeer(variable: name)
        }
        return value
    }

    public struct MissingPeer: Error, CustomStringConvertible {
        public let variable: String
        public var description: String { "\(variable) is not set: run the tests with scripts/test, which starts the real peers" }
    }
}
