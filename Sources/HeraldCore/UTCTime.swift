#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The calendar fields of an instant in UTC, computed without a DateFormatter: the MIME
/// `Date` header, AWS signatures and log lines need them for every message.
public struct UTCTime: Sendable {
    public let year: Int
    public let month: Int
    public let day: Int
    public let hour: Int
    public let minute: Int
    public let second: Int
    public let millisecond: Int
    /// 0 is Sunday.
    public let weekday: Int

    public init(_ date: Date) {
        let milliseconds = date.milliseconds
        let seconds = milliseconds >= 0 ? Int(milliseconds / 1000) : Int((milliseconds - 999) / 1000)
        self.millisecond = Int(milliseconds) - seconds * 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil-from-days (Howard Hinnant's algorithm).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        self.day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        self.month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        self.year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.hour = secondOfDay / 3600
        self.minute = secondOfDay % 3600 / 60
        self.second = secondOfDay % 60
        self.weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday.
    }

    /// Midnight UTC at the start of the given day, by arithmetic rather than a Calendar: send
    /// quotas need the day and month they count in for every email sent.
    public static func start(year: Int, month: Int, day: Int) -> Date {
        // Days-from-civil (Howard Hinnant's algorithm), the inverse of the one in `init`.
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days) * 86_400)
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `20261126`
    public var basicDate: String { Self.pad(year, 4) + Self.pad(month) + Self.pad(day) }

    /// `20261126T011014Z`
    public var basicDateTime: String { basicDate + "T" + Self.pad(hour) + Self.pad(minute) + Self.pad(second) + "Z" }

    /// `Thu, 26 Nov 2026 01:10:14 +0000`
    public var rfc5322: String {
        "\(Self.weekdays[weekday]), \(day) \(Self.months[month - 1]) \(year) \(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second)) +0000"
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `2026-11-26T01:10:14.123Z`
    public var iso8601: String {
        "\(Self.pad(year, 4))-\(Self.pad(month))-\(Self.pad(day))T\(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second))."
            + "\(Self.pad(millisecond, 3))Z"
    }
}
