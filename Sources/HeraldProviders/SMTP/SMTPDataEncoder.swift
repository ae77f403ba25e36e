import NIOCore

/// Turns a message into the bytes sent after DATA (RFC 5321 §4.5.2): every line ends in CRLF,
/// a line that starts with `.` gets another `.` in front, and `.` alone on a line ends it.
public enum SMTPDataEncoder {
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let dot = UInt8(ascii: ".")

    /// The message's bytes, transparent and terminated, ready to write after a 354 reply.
    ///
    /// Runs of bytes between line ends and leading dots are copied whole: this runs for every
    /// message on the SMTP path, and a rendered message is nearly all such runs.
    public static func encode(_ message: [UInt8]) -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(message.count + message.count / 64 + 5)
        message.withUnsafeBytes { bytes in
            var runStart = 0
            var index = 0
            var atLineStart = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == cr || byte == lf {
                    output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                    output.writeMultipleIntegers(cr, lf)
                    // CR LF is one line end; a CR or an LF alone is one as well.
                    index += byte == cr && index + 1 < bytes.count && bytes[index + 1] == lf ? 2 : 1
                    runStart = index
                    atLineStart = true
                    continue
                }
                if atLineStart, byte == dot {
                    // The run restarts at this dot, so it goes out twice.
                    output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart...index]))
                    runStart = index
                }
                atLineStart = false
                index += 1
            }
            output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            if !atLineStart { output.writeMultipleIntegers(cr, lf) }
        }
        output.writeMultipleIntegers(dot, cr, lf)
        return output
    }
}
