#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The source of the current time for everything that schedules: breakers, backoff, leases.
/// Production code uses ``SystemWallClock``; tests inject a clock they move by hand.
public protocol WallClock: Sendable {
    var now: Date { get }
}

public struct SystemWallClock: WallClock {
    public init() {}
    public var now: Date { Date() }
}

extension ContinuousClock.Instant {
    /// The time from now until this instant, none once it has passed: what a call may still
    /// wait by its deadline.
    public var timeLeft: Duration { max(.zero, ContinuousClock.now.duration(to: self)) }
}

extension Date {
    public func adding(_ duration: Duration) -> Date {
        addingTimeInterval(duration.timeInterval)
    }

    /// Whole milliseconds since 1970: how the stores keep times, so that a time read back is
    /// the time written, whichever store holds it.
    public var milliseconds: Int64 { CheckedNumber.milliseconds(seconds: timeIntervalSince1970) }

    public init(milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

extension Duration {
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
