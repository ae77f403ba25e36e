#if canImport(Glibc)
import Glibc
#endif

/// Why an archive could not be written or does not check out.
public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    static func system(_ what: String, _ code: Int32) -> ArchiveError {
        ArchiveError("\(what): \(String(cString: strerror(code)))")
    }

    static func compression(_ what: String) -> ArchiveError {
        ArchiveError(what)
    }
}
