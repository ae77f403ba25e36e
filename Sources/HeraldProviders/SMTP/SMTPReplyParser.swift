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
    private var enhancedCode: EnhancedStatusCode?
    private var lines: [String] = []

    public init() {}

    /// Whether lines of an unfinished reply are held: a TLS upgrade must not start then.
    public var isInsideReply: Bool { code != nil }

    /// Takes one line without its CRLF; returns the reply that this line completes.
    public mutating func consume(_ line: Substring) throws(Error) -> SMTPReply? {
        var line = line
        return try line.withUTF8 { bytes in Result { () throws(Error) in try consume(bytes) } }.get()
    }

    /// Takes one line's bytes without its CRLF; returns the reply that this line completes.
    ///
    /// Reads bytes, making a string only of each line's text: every reply of every
    /// transaction comes through here.
    public mutating func consume(_ line: UnsafeBufferPointer<UInt8>) throws(Error) -> SMTPReply? {
        guard line.count >= 3, let lineCode = Self.decimal(line[0..<3]), (200...599).contains(lineCode) else { throw .malformedLine }
        let separator = line.count > 3 ? line[3] : nil
        guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw .malformedLine }
        if let code, code != lineCode { throw .inconsistentCode }
        guard lines.count < Self.maximumLines else { throw .tooManyLines }
        var text = line.count > 4 ? line[4...] : line[line.endIndex...]
        if code == nil, let (enhanced, rest) = EnhancedStatusCode.prefix(of: text), enhanced.statusClass == lineCode / 100 {
            enhancedCode = enhanced
            text = rest.drop { $0 == UInt8(ascii: " ") }
        }
        code = lineCode
        lines.append(String(decoding: UnsafeBufferPointer(rebasing: text), as: UTF8.self))
        guard separator != UInt8(ascii: "-") else { return nil }

        defer {
            code = nil
            enhancedCode = nil
            lines = []
        }
        return SMTPReply(code: lineCode, enhancedCode: enhancedCode, lines: lines)
    }

    /// The value of a run of one to three ASCII digits; nil for anything else.
    static func decimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 3 else { return nil }
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
