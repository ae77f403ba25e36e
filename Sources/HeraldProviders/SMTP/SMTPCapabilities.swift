/// What a server offers in its EHLO reply: one keyword per line after the first, which is the
/// server's greeting to the client (RFC 5321 §4.1.1.1).
public struct SMTPCapabilities: Sendable, Equatable {
    public var pipelining = false
    /// The largest message the server takes (RFC 1870); `nil` when SIZE is absent or `SIZE 0`
    /// (no fixed limit).
    public var maximumSize: Int?
    public var supportsSize = false
    public var eightBitMIME = false
    public var smtpUTF8 = false
    public var startTLS = false
    /// Upper-cased SASL mechanism names, such as `PLAIN` and `LOGIN` (RFC 4954).
    public var authMechanisms: Set<String> = []

    public init() {}

    /// Reads an EHLO reply; a HELO reply gives an empty set, as does an empty EHLO reply.
    public init(ehloReply reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ")
            guard let keyword = words.first?.uppercased() else { continue }
            let parameters = words.dropFirst()
            switch keyword {
            case "PIPELINING": pipelining = true
            case "SIZE":
                supportsSize = true
                if let limit = parameters.first.flatMap({ Int($0) }), limit > 0 { maximumSize = limit }
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "STARTTLS": startTLS = true
            case "AUTH": authMechanisms.formUnion(parameters.map { $0.uppercased() })
            default: continue
            }
        }
    }
}
