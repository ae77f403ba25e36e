/// A setting that Herald cannot use. Start-up stops with this message and exit code 2.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var key: String
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "configuration error: \(key): \(problem)" }
}
