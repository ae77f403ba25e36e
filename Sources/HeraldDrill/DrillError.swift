/// Why a drill could not run or finish, as opposed to a verdict of FAIL.
public struct DrillError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable and machine-readable, such as `unreachable`, `http_409` or `missing_threshold`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
