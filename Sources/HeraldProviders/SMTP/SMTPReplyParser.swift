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
    ///
    /// Reads the line's UTF-8 bytes: every reply of every transaction comes through here.
    public mutating func consume(_ line: Substring) throws(Error) -> SMTPReply? {
        let utf8 = line.utf8
        guard let lineCode = Self.decimal(utf8.prefix(3)), utf8.count >= 3, (200...599).contains(lineCode) else { throw .malformedLine }
        let rest = utf8.dropFirst(3)
        let separator = rest.first
        guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw .malformedLine }
        if let code, code != lineCode { throw .inconsistentCode }
        guard lines.count < Self.maximumLines else { throw .tooManyLines }
        code = lineCode
        lines.append(String(Substring(rest.dropFirst())))
        guard separator != UInt8(ascii: "-") else { return nil }

        defer {
            code = nil
            lines = []
        }
        return Self.reply(code: lineCode, lines: lines)
    }

    /// The value of a run of one to three ASCII digits; nil for anything else.
    static func decimal(_ digits: Substring.UTF8View.SubSequence) -> Int? {
        guard !digits.isEmpty, digits.count <= 3 else { return nil }
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// Splits the enhanced status code off the first line when its class matches the reply's.
    private static func reply(code: Int, lines: [String]) -> SMTPReply {
        guard let first = lines.first else { return SMTPReply(code: code, lines: lines) }
        let token = first.utf8.prefix { $0 != UInt8(ascii: " ") }
        guard let enhanced = EnhancedStatusCode(Substring(token)), enhanced.statusClass == code / 100 else {
            return SMTPReply(code: code, lines: lines)
        }
        var stripped = lines
        stripped[0] = String(Substring(first.utf8[token.endIndex...].drop { $0 == UInt8(ascii: " ") }))
        return SMTPReply(code: code, enhancedCode: enhanced, lines: stripped)
    }
}
