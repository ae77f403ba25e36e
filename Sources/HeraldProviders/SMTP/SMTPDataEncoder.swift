/// Turns a message into the bytes sent after DATA (RFC 5321 §4.5.2): every line ends in CRLF,
/// a line that starts with `.` gets another `.` in front, and `.` alone on a line ends it.
public enum SMTPDataEncoder {
    /// The message's bytes, transparent and terminated, ready to write after a 354 reply.
    public static func encode<Bytes: Sequence<UInt8>>(_ message: Bytes) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.underestimatedCount + message.underestimatedCount / 50 + 5)
        var atLineStart = true
        var previousWasCR = false
        for byte in message {
            switch byte {
            case UInt8(ascii: "\r"):
                // A CR is a line end in its own right; an LF right after it completes the CRLF.
                output += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
                atLineStart = true
                previousWasCR = true
                continue
            case UInt8(ascii: "\n"):
                if !previousWasCR { output += [UInt8(ascii: "\r"), UInt8(ascii: "\n")] }
                atLineStart = true
            default:
                if atLineStart, byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
                output.append(byte)
                atLineStart = false
            }
            previousWasCR = false
        }
        if !atLineStart { output += [UInt8(ascii: "\r"), UInt8(ascii: "\n")] }
        output += [UInt8(ascii: "."), UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        return output
    }
}
