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
            switch (bytes[0], bytes[1], bytes[2]) {
            case (0, _, _), (10, _, _), (127, _, _), (169, 254, _), (192, 168, _): return true
            case (172, 16...31, _), (100, 64...127, _): return true
            // IETF protocol assignments, benchmarking (RFC 2544), multicast, reserved and broadcast.
            case (192, 0, 0), (198, 18...19, _), (224...255, _, _): return true
            default: return false
            }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes.allSatisfy({ $0 == 0 }) || bytes == Array(repeating: 0, count: 15) + [1] { return true }
        // Unique-local, link-local, multicast.
        if bytes[0] & 0xFE == 0xFC || (bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80) || bytes[0] == 0xFF { return true }
        // An IPv4 address carried in IPv6 is checked as IPv4: mapped (::ffff:a.b.c.d), through a
        // NAT64 gateway (64:ff9b::a.b.c.d, RFC 6052) or a 6to4 relay (2002:aabb:ccdd::, RFC 3056).
        let carried: ArraySlice<UInt8>?
        if bytes[0..<12].elementsEqual(Self.mappedPrefix) || bytes[0..<12].elementsEqual(Self.nat64Prefix) {
            carried = bytes[12..<16]
        } else if bytes[0] == 0x20 && bytes[1] == 0x02 {
            carried = bytes[2..<6]
        } else {
            carried = nil
        }
        return carried.map { isPrivate(address: $0.map(String.init).joined(separator: ".")) } ?? false
    }

    private static let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
    private static let nat64Prefix: [UInt8] = [0, 0x64, 0xFF, 0x9B] + Array(repeating: 0, count: 8)
}
