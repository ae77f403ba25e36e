#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the console's overview charts: emails accepted, sent and failed, and bounces reported,
/// counted by the minute in the store, in the transactions that make them so.
public enum ActivityKind: String, Sendable, CaseIterable {
    case accepted, sent, failed, bounced
}

/// One kind's count in one minute.
public struct ActivityCount: Sendable, Equatable {
    public var minute: Date
    public var kind: ActivityKind
    public var count: Int

    public init(minute: Date, kind: ActivityKind, count: Int) {
        self.minute = minute
        self.kind = kind
        self.count = count
    }
}

/// How the stores keep activity: a ring of a day's minutes, one row per minute of the day and
/// kind, which the same minute of the next day overwrites. The table never grows, and nothing
/// has to sweep it.
public enum ActivityMinutes {
    public static let kept: Int64 = 1440

    /// Minutes since 1970.
    public static func minute(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 60).rounded(.down))
    }

    /// The row of the ring that `minute` uses.
    public static func slot(of minute: Int64) -> Int64 {
        ((minute % kept) + kept) % kept
    }
}
