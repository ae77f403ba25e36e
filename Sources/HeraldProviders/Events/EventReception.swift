import Crypto
import Foundation
import HeraldCore
import Synchronization

/// What the providers' event receivers share: reading JSON payloads, comparing secrets,
/// refusing replays, deriving event ids.
enum EventReception {
    /// The payload as JSON, or a `malformed` rejection; never a crash on any input.
    static func json(_ body: [UInt8]) throws(EventRejection) -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            throw EventRejection(.malformed, "the payload is not JSON")
        }
    }

    /// Where each element of the JSON array `body` lies in it, in order: the provider's own
    /// bytes for each event of a batch, to store as its payload without encoding it again (a
    /// SendGrid batch of a thousand events spent most of its time there). Only for a body that
    /// ``json(_:)`` read as an array, so that finding the commas between elements is all that
    /// is left: those outside strings and one level deep. Nil when `body` is not an array.
    static func arrayElements(_ body: [UInt8]) -> [Range<Int>]? {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let open = body.firstIndex(where: { !whitespace.contains($0) }), body[open] == UInt8(ascii: "[") else { return nil }
        var elements: [Range<Int>] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start = open + 1
        func close(at end: Int) {
            var (first, last) = (start, end)
            while first < last, whitespace.contains(body[first]) { first += 1 }
            while last > first, whitespace.contains(body[last - 1]) { last -= 1 }
            if first < last { elements.append(first..<last) }
            start = end + 1
        }
        for index in open..<body.count {
            let byte = body[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    close(at: index)
                    return elements
                }
            case UInt8(ascii: ",") where depth == 1: close(at: index)
            default: break
            }
        }
        return nil
    }

    /// One event object as stored with the event, where the provider's bytes for it alone
    /// are not at hand: encoded again with sorted keys, cut to ``ProviderEvent/maxPayloadBytes``.
    static func payload(of object: Any) -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { return [] }
        return Array(data.prefix(ProviderEvent.maxPayloadBytes))
    }

    /// An event id for providers that give none: a digest of the fields that identify the
    /// event, so that every repeat of it gets the same one.
    static func derivedID(_ fields: String?...) -> String {
        let joined = fields.map { $0 ?? "" }.joined(separator: "\u{1F}")
        return SHA256.hash(data: Data(joined.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// A time given as seconds since 1970, as a number or a string; nil for anything else.
    static func date(secondsSince1970 value: Any?) -> Date? {
        switch value {
        case let number as NSNumber: return Date(timeIntervalSince1970: number.doubleValue)
        case let text as String: return Double(text).map(Date.init(timeIntervalSince1970:))
        default: return nil
        }
    }

    /// An ISO 8601 time, with or without fractional seconds.
    static func date(iso8601 value: Any?) -> Date? {
        guard let text = value as? String else { return nil }
        return (try? Date(text, strategy: .iso8601)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }
}

/// Refuses a signed request whose timestamp is too far from now, or whose token (a nonce or
/// the signature itself) was seen within that window: a captured request cannot be played
/// again. Tokens are kept only as long as their timestamps would pass.
final class ReplayGuard: Sendable {
    let window: Duration
    private let seen = Mutex<[String: Date]>([:])

    init(window: Duration) {
        self.window = window
    }

    func admit(token: String, timestamp: Date, now: Date) throws(EventRejection) {
        let seconds = Double(window.components.seconds)
        guard abs(now.timeIntervalSince(timestamp)) <= seconds else {
            throw EventRejection(.replayed, "the request's timestamp is more than \(Int(seconds)) s from now")
        }
        let fresh = seen.withLock { seen in
            if seen.count > 10_000 { seen = seen.filter { now.timeIntervalSince($0.value) <= seconds } }
            return seen.updateValue(timestamp, forKey: token) == nil
        }
        guard fresh else { throw EventRejection(.replayed, "the request was received before") }
    }
}
