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
    /// Each line is found with `memchr` and copied whole: this runs for every message on the
    /// SMTP path, and a rendered message is nearly all such lines. A CR, an LF or a CR LF each
    /// end a line.
    public static func encode(_ message: [UInt8]) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(message.count + message.count / 64 + 5)
        message.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            var lineStart = 0
            while lineStart < count {
                if bytes[lineStart] == dot { output.writeInteger(dot) }
                let lineFeed = offset(of: lf, in: base, from: lineStart, to: count)
                let lineEnd = offset(of: cr, in: base, from: lineStart, to: lineFeed)
                output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
                output.writeMultipleIntegers(cr, lf)
                let endsWithCRLF = lineEnd + 1 < count && bytes[lineEnd] == cr && bytes[lineEnd + 1] == lf
                lineStart = lineEnd + (endsWithCRLF ? 2 : 1)
            }
        }
        output.writeMultipleIntegers(dot, cr, lf)
        return output
    }

    /// The offset of the first `byte` in `base[start..<end]`, or `end` when there is none.
    private static func offset(of byte: UInt8, in base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
        guard start < end, let found = memchr(base + start, Int32(byte), end - start) else { return end }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
