import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a message into the bytes sent after DATA (RFC 5321 §4.5.2): every line ends in CRLF,
/// a line that starts with `.` gets another `.` in front, and `.` alone on a line ends it.
public enum SMTPDataEncoder {
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let dot = UInt8(ascii: ".")

    /// The message's bytes, transparent and terminated, ready to write after a 354 reply.
    ///
    /// This runs for every message on the SMTP path. A message that ``MIMEMessage`` rendered
    /// already breaks its lines with CRLF alone, so it is copied in a few large pieces, with a
    /// dot put in before each line that starts with one. Any other text is rewritten line by
    /// line, a lone CR or LF becoming CRLF: a bare line feed must never reach the server, where
    /// `LF . LF` could end the data early for some and not for others (SMTP smuggling).
    public static func encode(_ message: [UInt8]) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(message.count + message.count / 64 + 5)
        message.withUnsafeBytes { bytes in
            if let dots = linesStartingWithDot(inCRLFText: bytes) {
                var start = 0
                for offset in dots {
                    output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
                    output.writeInteger(dot)
                    start = offset
                }
                output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                if !bytes.isEmpty, bytes.last != lf { output.writeMultipleIntegers(cr, lf) }
            } else {
                writeLineByLine(bytes, to: &output)
            }
        }
        output.writeMultipleIntegers(dot, cr, lf)
        return output
    }

    /// Where the lines that start with a dot begin, when every CR in `bytes` is followed by
    /// LF and every LF follows a CR; nil otherwise.
    private static func linesStartingWithDot(inCRLFText bytes: UnsafeRawBufferPointer) -> [Int]? {
        guard let base = bytes.baseAddress else { return [] }
        let count = bytes.count
        var index = 0
        while let found = offset(of: cr, in: base, from: index, to: count) {
            guard found + 1 < count, bytes[found + 1] == lf else { return nil }
            index = found + 2
        }
        var dots: [Int] = bytes.first == dot ? [0] : []
        index = 0
        while let found = offset(of: lf, in: base, from: index, to: count) {
            guard found > 0, bytes[found - 1] == cr else { return nil }
            if found + 1 < count, bytes[found + 1] == dot { dots.append(found + 1) }
            index = found + 1
        }
        return dots
    }

    /// Copies each line with CRLF after it, found with `memchr`; a CR, an LF or a CR LF each
    /// end a line.
    private static func writeLineByLine(_ bytes: UnsafeRawBufferPointer, to output: inout ByteBuffer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var lineStart = 0
        while lineStart < count {
            if bytes[lineStart] == dot { output.writeInteger(dot) }
            let lineFeed = offset(of: lf, in: base, from: lineStart, to: count) ?? count
            let lineEnd = offset(of: cr, in: base, from: lineStart, to: lineFeed) ?? lineFeed
            output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
            output.writeMultipleIntegers(cr, lf)
            let endsWithCRLF = lineEnd + 1 < count && bytes[lineEnd] == cr && bytes[lineEnd + 1] == lf
            lineStart = lineEnd + (endsWithCRLF ? 2 : 1)
        }
    }

    /// The offset of the first `byte` in `base[start..<end]`, or nil when there is none.
    private static func offset(of byte: UInt8, in base: UnsafeRawPointer, from start: Int, to end: Int) -> Int? {
        guard start < end, let found = memchr(base + start, Int32(byte), end - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
