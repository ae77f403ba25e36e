/// Turns a number that came from outside the process (a setting, a flag, a request field, a
/// provider's answer) into a value that cannot trap: parsed, finite, within bounds, and
/// converted with `exactly:` or clamped instead of with a conversion that traps on overflow.
public enum CheckedNumber {
    /// Why a text is not a usable number, as words that can follow a field's name.
    public struct Problem: Error, Sendable, Equatable {
        public var problem: String

        public init(_ problem: String) {
            self.problem = problem
        }
    }

    /// A whole number within `range`; surrounding spaces are ignored.
    public static func integer(_ text: some StringProtocol, in range: ClosedRange<Int>) throws(Problem) -> Int {
        let trimmed = text.trimmingSpaces()
        guard let value = Int(trimmed) else {
            let isDigits = !trimmed.isEmpty && trimmed.drop { $0 == "-" || $0 == "+" }.allSatisfy(\.isASCIIDigit)
            throw Problem(isDigits ? outOfRange(range, trimmed) : "must be a whole number, not '\(trimmed)'")
        }
        guard range.contains(value) else { throw Problem(outOfRange(range, String(value))) }
        return value
    }

    /// A finite number within `range`; surrounding spaces are ignored.
    public static func decimal(_ text: some StringProtocol, in range: ClosedRange<Double>) throws(Problem) -> Double {
        let trimmed = text.trimmingSpaces()
        guard let value = Double(trimmed), value.isFinite else {
            throw Problem("must be a number, not '\(trimmed)'")
        }
        guard range.contains(value) else { throw Problem(outOfRange(range, "\(value)")) }
        return value
    }

    /// `seconds` in whole milliseconds, rounded to the nearest; saturated at the ends of
    /// `Int64`, and 0 for NaN, so that a caller that has not bounded the value yet cannot trap.
    public static func milliseconds(seconds: Double) -> Int64 {
        let milliseconds = (seconds * 1000).rounded()
        guard !milliseconds.isNaN else { return 0 }
        return Int64(exactly: milliseconds) ?? (milliseconds < 0 ? .min : .max)
    }

    /// A hint of how long to wait, in seconds (a `Retry-After`, a rate limit's reset), as a
    /// duration within `0...limit`: negative and NaN hints count as none, huge ones as `limit`.
    public static func waitHint(seconds: Double, limit: Duration = .seconds(86_400)) -> Duration? {
        guard !seconds.isNaN, seconds >= 0 else { return nil }
        let limitSeconds = Double(limit.components.seconds)
        return seconds >= limitSeconds ? limit : .milliseconds(milliseconds(seconds: seconds))
    }

    /// A count someone else reports (a provider's quota): nil for NaN and negative values, at
    /// most `limit`, so that sums of it cannot overflow.
    public static func count(_ value: Double, limit: Int = Int(Int32.max)) -> Int? {
        guard !value.isNaN, value >= 0 else { return nil }
        return value >= Double(limit) ? limit : Int(value.rounded(.down))
    }

    private static func outOfRange<Bound>(_ range: ClosedRange<Bound>, _ value: String) -> String {
        "must be from \(range.lowerBound) to \(range.upperBound), not \(value)"
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
