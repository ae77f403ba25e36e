/// Collects reply lines into replies: `250-first`, `250-second`, `250 last` make one reply.
///
/// Pure and incremental, so that the channel handler can feed it one line at a time and the
/// grammar is tested without a socket.
public struct SMTPReplyParser: Sendable {
    /// Why a line is not part of a well-formed reply.
    public enum Error: Swift.Error, Equatable {
        case malformedLine
        /// A continuation line carried a different code from the lines before it.
        case inconsistentCode
        /// A reply longer than any server has a reason to send; protects memory.
        case tooManyLines
    }

    /// RFC 5321 sets no limit; real servers' EHLO replies have a few dozen lines.
    static let maximumLines = 500

    private var code: Int?
    private var lines: [String] = []

    public init() {}

    /// Whether lines of an unfinished reply are held: a TLS upgrade must not start then.
    public var isInsideReply: Bool { code != nil }

    /// Takes one line without its CRLF; returns the reply that this line completes.
    public mutating func consume(_ line: Substring) throws(Error) -> SMTPReply? {
        let utf8 = line.utf8
        guard utf8.count >= 3, line.prefix(3).allSatisfy(\.isASCIIDigit), let lineCode = Int(line.prefix(3)),
            (200...599).contains(lineCode)
        else { throw .malformedLine }
        let separator = line.dropFirst(3).first
        guard separator == nil || separator == " " || separator == "-" else { throw .malformedLine }
        if let code, code != lineCode { throw .inconsistentCode }
        guard lines.count < Self.maximumLines else { throw .tooManyLines }
        code = lineCode
        lines.append(String(line.dropFirst(4)))
        guard separator != "-" else { return nil }

        defer {
            code = nil
            lines = []
        }
        return Self.reply(code: lineCode, lines: lines)
    }

    /// Splits the enhanced status code off the first line when its class matches the reply's.
    private static func reply(code: Int, lines: [String]) -> SMTPReply {
        guard let first = lines.first else { return SMTPReply(code: code, lines: lines) }
        let token = first.prefix { $0 != " " }
        guard let enhanced = EnhancedStatusCode(token), enhanced.statusClass == code / 100 else {
            return SMTPReply(code: code, lines: lines)
        }
        var stripped = lines
        stripped[0] = String(first.dropFirst(token.count).drop { $0 == " " })
        return SMTPReply(code: code, enhancedCode: enhanced, lines: stripped)
    }
}
