#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A mailbox: an address with an optional display name, as in `Ada Lovelace <ada@example.org>`.
///
/// Internationalized domains and local parts (RFC 6531) are accepted as Unicode; converting
/// them for a given transport is the provider's business.
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    public var displayName: String?
    public var address: String

    public init(displayName: String? = nil, address: String) {
        self.displayName = displayName
        self.address = address
    }

    /// The part after the last `@`.
    public var domain: Substring {
        // By UTF-8 byte rather than by character: `@` is ASCII, and every message asks.
        address[address.utf8.index(after: address.utf8.lastIndex(of: UInt8(ascii: "@"))!)...]
    }

    public var description: String {
        guard let displayName, !displayName.isEmpty else { return address }
        return "\(Self.phrase(displayName)) <\(address)>"
    }

    /// A display name as RFC 5322 writes it: as it is, or quoted with `\` and `"` escaped when
    /// it holds characters that would otherwise end or split the phrase.
    public static func phrase(_ name: String) -> String {
        // The specials are ASCII, and no byte of a multi-byte UTF-8 character is: bytes will do.
        guard name.utf8.contains(where: { Self.specials.contains($0) }) else { return name }
        var escaped = ""
        for character in name {
            if character == "\\" || character == "\"" { escaped.append("\\") }
            escaped.append(character)
        }
        return "\"\(escaped)\""
    }

    /// RFC 5322 §3.2.3's specials, which a display name can carry only inside quotes.
    private static let specials = Array("()<>[]:;@\\,.\"".utf8)
}

extension EmailAddress {
    /// Why a string is not a usable mailbox. The raw values are the machine-readable codes the
    /// API reports.
    public enum ParseError: String, Error, Sendable {
        case empty = "empty"
        case lineBreak = "line_break"
        case controlCharacter = "control_character"
        case malformed = "malformed_address"
        case invalidLocalPart = "invalid_local_part"
        case invalidDomain = "invalid_domain"

        public var message: String {
            switch self {
            case .empty: "is empty"
            case .lineBreak: "contains a line break"
            case .controlCharacter: "contains NUL or another control character"
            case .malformed: "is not an address of the form name@domain or Name <name@domain>"
            case .invalidLocalPart: "has an invalid part before the @"
            case .invalidDomain: "has an invalid domain"
            }
        }
    }

    /// Parses `name@domain`, `Display Name <name@domain>` or `"Quoted, Name" <name@domain>`.
    public init(parsing input: String) throws(ParseError) {
        if input.utf8.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) { throw .lineBreak }
        if input.utf8.contains(where: EmailMessage.isForbiddenInHeader) { throw .controlCharacter }
        let trimmed = input.trimmingSpaces()
        if trimmed.isEmpty { throw .empty }

        var displayName: String?
        var address = trimmed
        if trimmed.hasSuffix(">") {
            guard let open = trimmed.lastIndex(of: "<") else { throw .malformed }
            address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            let name = trimmed[..<open].trimmingSpaces()
            displayName = try Self.unquote(name)
        }
        try Self.validate(address: address)
        self.init(displayName: displayName, address: address)
    }

    private static func unquote(_ name: String) throws(ParseError) -> String? {
        guard !name.isEmpty else { return nil }
        guard name.hasPrefix("\"") else {
            if name.contains(where: { "<>\"".contains($0) }) { throw .malformed }
            return name
        }
        guard name.count >= 2, name.hasSuffix("\"") else { throw .malformed }
        var result = ""
        var escaping = false
        for character in name.dropFirst().dropLast() {
            if escaping {
                result.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "\"" {
                throw .malformed
            } else {
                result.append(character)
            }
        }
        if escaping { throw .malformed }
        return result
    }

    /// Checks the address byte by byte: every stored email's addresses are decoded, and so
    /// checked again, on each delivery round. Only the forbidden characters are ASCII, so UTF-8
    /// bytes answer every question but whether a non-ASCII domain character is a letter.
    private static func validate(address: String) throws(ParseError) {
        let bytes = address.utf8
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { throw .malformed }
        let local = bytes[..<at]
        guard !local.isEmpty, local.count <= 64, local.first != dot, local.last != dot,
            !local.contains(where: { $0 < 0x20 || forbiddenInLocal.contains($0) }),
            !zip(local, local.dropFirst()).contains(where: { $0 == dot && $1 == dot })
        else { throw .invalidLocalPart }
        guard isValid(domain: address[bytes.index(after: at)...]) else { throw .invalidDomain }
    }

    private static let dot = UInt8(ascii: ".")
    private static let forbiddenInLocal = Set(" \t<>()[],;:\\\"@".utf8)

    /// Host names of at least two labels of letters, digits and hyphens; non-ASCII letters are
    /// allowed for internationalized domains.
    static func isValid(domain: Substring) -> Bool {
        guard !domain.isEmpty, domain.utf8.count <= 253 else { return false }
        let labels = domain.utf8.split(separator: dot, omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            guard !label.isEmpty, label.count <= 63, label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else {
                return false
            }
            if label.allSatisfy({ $0 < 0x80 }) {
                return label.allSatisfy {
                    $0 == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                        || ($0 | 0x20 >= UInt8(ascii: "a") && $0 | 0x20 <= UInt8(ascii: "z"))
                }
            }
            return Substring(label).allSatisfy { $0 == "-" || $0.isLetter || $0.isNumber }
        }
    }
}

extension EmailAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            self = try EmailAddress(parsing: string)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
