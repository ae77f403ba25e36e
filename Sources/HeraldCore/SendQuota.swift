#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How many emails a provider may take per calendar day or month (UTC), and how many it has;
/// without a limit it only counts.
///
/// Sends are counted when an attempt starts, so that concurrent attempts cannot overshoot the
/// limit together; an attempt that certainly did not deliver gives its count back. The store
/// keeps the delivered count, from which a restarted process carries on.
public struct SendQuota: Sendable, Equatable {
    public enum Period: String, Sendable, CaseIterable, Codable {
        case day
        case month

        /// The start (UTC) of the period that contains `date`.
        public func start(containing date: Date) -> Date {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let start = DateComponents(year: parts.year, month: parts.month, day: self == .day ? parts.day : 1)
            return calendar.date(from: start)!
        }

        /// The start of the next period after the one that contains `date`.
        public func end(containing date: Date) -> Date {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            return calendar.date(byAdding: self == .day ? .day : .month, value: 1, to: start(containing: date))!
        }
    }

    public let period: Period
    /// Nil for no limit.
    public let limit: Int?
    public private(set) var used: Int
    private var periodStart: Date

    /// `used` is what the store counted for the period that contains `now`.
    public init(period: Period, limit: Int?, used: Int = 0, now: Date) {
        self.period = period
        self.limit = limit
        self.used = used
        self.periodStart = period.start(containing: now)
    }

    public mutating func isExhausted(at now: Date) -> Bool {
        roll(to: now)
        guard let limit else { return false }
        return used >= limit
    }

    /// Counts a send; false, counting nothing, when the quota is used up.
    public mutating func take(at now: Date) -> Bool {
        guard !isExhausted(at: now) else { return false }
        used += 1
        return true
    }

    /// Gives back the count of an attempt that did not deliver, within the same period.
    public mutating func giveBack(takenAt: Date) {
        if period.start(containing: takenAt) == periodStart, used > 0 { used -= 1 }
    }

    /// Takes in a count kept elsewhere for the period that contains `now`, such as the store's,
    /// which every node sharing it adds to; sends counted here and not there yet stay counted.
    public mutating func raise(toAtLeast count: Int, at now: Date) {
        roll(to: now)
        used = max(used, count)
    }

    public mutating func usage(at now: Date) -> (used: Int, limit: Int?, resetsAt: Date) {
        roll(to: now)
        return (used, limit, period.end(containing: now))
    }

    private mutating func roll(to now: Date) {
        let start = period.start(containing: now)
        if start > periodStart {
            periodStart = start
            used = 0
        }
    }
}
