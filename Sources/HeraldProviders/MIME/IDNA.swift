import Foundation

/// Internationalized domain names in their ASCII form (IDNA, RFC 5891), as mail headers and
/// most provider APIs need them: `bücher.de` becomes `xn--bcher-kva.de`.
enum IDNA {
    /// The ASCII form of `domain`; labels that are ASCII already are only lower-cased.
    static func ascii(_ domain: some StringProtocol) -> String {
        // Nearly every domain is ASCII already, and normalization (NFKC) leaves ASCII as it is:
        // skip its cost on the path every message takes.
        if domain.isASCII { return domain.lowercased() }
        return String(domain).precomposedStringWithCompatibilityMapping.lowercased()
            .split(separator: ".", omittingEmptySubsequences: false)
            .map { label in label.isASCII ? String(label) : "xn--" + punycode(label) }
            .joined(separator: ".")
    }

    /// `local@domain` with the domain in its ASCII form; the local part is left as it is, since
    /// only SMTPUTF8 (RFC 6531) can carry a non-ASCII one.
    static func asciiDomain(ofAddress address: String) -> String {
        guard let at = address.utf8.lastIndex(of: UInt8(ascii: "@")) else { return address }
        let domain = address.utf8[address.utf8.index(after: at)...]
        // Nearly every address has its domain in ASCII and lowercase already: no new string.
        if domain.allSatisfy({ $0 < 0x80 && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) { return address }
        return address[..<at] + "@" + ascii(address[domain.startIndex...])
    }

    /// RFC 3492's Bootstring encoding with Punycode's parameters.
    static func punycode(_ label: some StringProtocol) -> String {
        let base = 36
        let tMin = 1
        let tMax = 26
        let skew = 38
        let damp = 700
        let scalars = label.unicodeScalars.map { Int($0.value) }
        var output = scalars.filter { $0 < 0x80 }.map { Character(Unicode.Scalar(UInt8($0))) }
        let basicCount = output.count
        if basicCount > 0 { output.append("-") }

        func digit(_ value: Int) -> Character {
            Character(Unicode.Scalar(UInt8(value < 26 ? value + 97 : value + 22)))
        }
        func adapt(_ delta: Int, _ count: Int, _ first: Bool) -> Int {
            var delta = first ? delta / damp : delta / 2
            delta += delta / count
            var k = 0
            while delta > ((base - tMin) * tMax) / 2 {
                delta /= base - tMin
                k += base
            }
            return k + (base - tMin + 1) * delta / (delta + skew)
        }

        var n = 0x80
        var delta = 0
        var bias = 72
        var handled = basicCount
        while handled < scalars.count {
            let next = scalars.filter { $0 >= n }.min()!
            delta += (next - n) * (handled + 1)
            n = next
            for scalar in scalars {
                if scalar < n { delta += 1 }
                guard scalar == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, handled + 1, handled == basicCount)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(output)
    }
}
