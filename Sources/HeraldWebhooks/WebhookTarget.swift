import Foundation

/// Where webhooks may go: `http` or `https` URLs with a host, and, unless private targets are
/// allowed, not `localhost` nor an address on loopback, private, link-local (cloud metadata
/// services live at 169.254.169.254), unique-local or unspecified networks, so that a tenant
/// cannot make Herald call into the network it runs in.
public enum WebhookTarget {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    public static func check(_ text: String, allowPrivate: Bool) throws(Refusal) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = url.host?.lowercased(), !host.isEmpty
        else { throw Refusal(description: "refused target: not an http or https URL with a host") }
        guard url.user == nil, url.password == nil else { throw Refusal(description: "refused target: credentials in the URL") }
        guard !allowPrivate else { return }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if bare == "localhost" || bare.hasSuffix(".localhost") || isPrivate(address: bare) {
            throw Refusal(description: "refused target: \(bare) is a loopback, private or link-local address")
        }
    }

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Whether `address`, an IPv4 or IPv6 literal, is one no public endpoint has.
    static func isPrivate(address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let bytes = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            switch (bytes[0], bytes[1]) {
            case (0, _), (10, _), (127, _), (169, 254), (192, 168): return true
            case (172, 16...31), (100, 64...127): return true
            default: return false
            }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes.allSatisfy({ $0 == 0 }) || bytes == Array(repeating: 0, count: 15) + [1] { return true }
        if bytes[0] & 0xFE == 0xFC || (bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80) { return true }
        // An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is checked as IPv4.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return isPrivate(address: bytes[12...].map(String.init).joined(separator: "."))
        }
        return false
    }
}
