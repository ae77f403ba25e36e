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
            let time = UTCTime(date)
            return UTCTime.start(year: time.year, month: time.month, day: self == .day ? time.day : 1)
        }

        /// The start of the next period after the one that contains `date`.
        public func end(containing date: Date) -> Date {
            let time = UTCTime(date)
            switch self {
            case .day: return UTCTime.start(year: time.year, month: time.month, day: time.day).addingTimeInterval(86_400)
            case .month: return UTCTime.start(year: time.year + time.month / 12, month: time.month % 12 + 1, day: 1)
            }
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
