/// One complete server reply: a three-digit code and its text lines (RFC 5321 §4.2), with the
/// enhanced status code (RFC 3463) that the first line starts with, if any.
public struct SMTPReply: Sendable, Equatable {
    public var code: Int
    public var enhancedCode: EnhancedStatusCode?
    /// The text of every line, without the code, the separator and the enhanced code.
    public var lines: [String]

    public init(code: Int, enhancedCode: EnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines
    }

    public var isTransientNegative: Bool { (400..<500).contains(code) }
    public var isPermanentNegative: Bool { (500..<600).contains(code) }

    /// `550` or `550_5.1.1`: the part of a failure code that names this reply.
    var codeDescription: String {
        guard let enhancedCode else { return "\(code)" }
        return "\(code)_\(enhancedCode)"
    }
}

/// `class.subject.detail`, such as `5.1.1` for a mailbox that does not exist (RFC 3463).
public struct EnhancedStatusCode: Sendable, Equatable, CustomStringConvertible {
    public var statusClass: Int
    public var subject: Int
    public var detail: Int

    public init(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Reads `2.0.0`; `nil` for anything else. The class must be 2, 4 or 5, the subject at most
    /// three digits and the detail at most three (RFC 3463 §2).
    public init?(_ text: Substring) {
        guard let (code, rest) = Self.prefix(of: text.utf8), rest.isEmpty else { return nil }
        self = code
    }

    /// The code that `text` starts with, up to a space or the end, and what follows it.
    static func prefix<Text: Collection<UInt8>>(of text: Text) -> (EnhancedStatusCode, Text.SubSequence)? {
        let token = text.prefix { $0 != UInt8(ascii: " ") }
        let parts = token.split(separator: UInt8(ascii: "."), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let statusClass = SMTPReplyParser.decimal(parts[0]),
            [2, 4, 5].contains(statusClass), let subject = SMTPReplyParser.decimal(parts[1]),
            let detail = SMTPReplyParser.decimal(parts[2])
        else { return nil }
        return (EnhancedStatusCode(statusClass, subject, detail), text[token.endIndex...])
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}
