#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A time-ordered identifier for an email: 48 bits of milliseconds since 1970 followed by
/// 80 random bits, written as 26 characters of Crockford base 32 (the ULID layout).
///
/// Sorting identifiers as strings sorts emails by the time they were accepted, which lets the
/// store page through emails newest first with the identifier alone as the cursor.
public struct EmailID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// Parses an identifier, accepting lower-case letters; returns nil for anything else.
    public init?(_ string: some StringProtocol) {
        let upper = string.uppercased()
        guard upper.utf8.count == 26, upper.utf8.allSatisfy({ Self.alphabet.contains($0) }) else { return nil }
        // The first character carries only 3 bits of the 48-bit timestamp.
        guard let first = upper.utf8.first, first <= UInt8(ascii: "7") else { return nil }
        self.rawValue = upper
    }

    public init(date: Date, using generator: inout some RandomNumberGenerator) {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var characters = [UInt8](repeating: 0, count: 26)
        var time = milliseconds
        for index in stride(from: 9, through: 0, by: -1) {
            characters[index] = Self.alphabet[Int(time & 31)]
            time >>= 5
        }
        var random = (UInt64.random(in: .min ... .max, using: &generator), UInt64.random(in: .min ... .max, using: &generator))
        for index in 10..<26 {
            characters[index] = Self.alphabet[Int(random.0 & 31)]
            random.0 = (random.0 >> 5) | (random.1 << 59)
            random.1 >>= 5
        }
        self.rawValue = String(decoding: characters, as: UTF8.self)
    }

    public init(date: Date = Date()) {
        var generator = SystemRandomNumberGenerator()
        self.init(date: date, using: &generator)
    }

    /// The smallest identifier of an email accepted at `date`: every email accepted before it
    /// has a smaller one, which lets a store find old emails by their primary key alone.
    public static func first(at date: Date) -> EmailID {
        var zeros = ZeroGenerator()
        return EmailID(date: date, using: &zeros)
    }

    /// When the email was accepted, to the millisecond, as its first ten characters say.
    public var date: Date {
        let milliseconds = rawValue.utf8.prefix(10).reduce(Int64(0)) { value, character in
            value << 5 | Int64(Self.alphabet.firstIndex(of: character) ?? 0)
        }
        return Date(milliseconds: milliseconds)
    }

    private struct ZeroGenerator: RandomNumberGenerator {
        func next() -> UInt64 { 0 }
    }

    public var description: String { rawValue }

    public static func < (lhs: EmailID, rhs: EmailID) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension EmailID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = EmailID(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an email id")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
