import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The source of the current time for everything that schedules: breakers, backoff, leases.
/// Production code uses ``SteadyWallClock``; tests inject a clock they move by hand.
public protocol WallClock: Sendable {
    var now: Date { get }
}

/// The system's wall clock as it is: for what another party checks against its own clock, such
/// as a request's signature.
public struct SystemWallClock: WallClock {
    public init() {}
    public var now: Date { Date() }
}

/// Wall-clock time that a step of the system clock cannot jerk: it advances with the monotonic
/// clock and follows the system clock only by slewing, at most 1 % faster or slower.
///
/// An NTP step or an operator's `date -s` moves the system clock by any amount at once. Read
/// directly, an hour forward would open every breaker's way back, expire every lease (and send
/// the emails under them twice) and refill every rate limit; an hour back would hold them all
/// for an hour. Through this clock the same step is absorbed over a hundred times as long:
/// 36 s in each hour, so that a 30 s backoff or breaker pause is off by 0.3 s at most. Small
/// differences, as NTP's own slewing makes, are followed the same way and never noticed.
public final class SteadyWallClock: WallClock {
    /// How much faster or slower than the monotonic clock this clock may run to catch up.
    public static let maximumSlew = 0.01

    private struct State {
        var time: Date
        var elapsed: Duration
    }

    private let systemTime: @Sendable () -> Date
    private let elapsed: @Sendable () -> Duration
    private let state: Mutex<State>

    /// The system's clocks.
    public convenience init() {
        let start = ContinuousClock.now
        self.init(systemTime: { Date() }, elapsed: { ContinuousClock.now - start })
    }

    /// `systemTime` is the wall clock to follow; `elapsed` is monotonic time since any fixed
    /// instant. Tests pass clocks of their own.
    public init(systemTime: @escaping @Sendable () -> Date, elapsed: @escaping @Sendable () -> Duration) {
        self.systemTime = systemTime
        self.elapsed = elapsed
        self.state = Mutex(State(time: systemTime(), elapsed: elapsed()))
    }

    public var now: Date {
        let target = systemTime()
        let elapsedNow = elapsed()
        return state.withLock { state in
            let step = max(0, (elapsedNow - state.elapsed).timeInterval)
            let free = state.time.addingTimeInterval(step)
            let slew = step * Self.maximumSlew
            state.time = free.addingTimeInterval(min(slew, max(-slew, target.timeIntervalSince(free))))
            state.elapsed = max(state.elapsed, elapsedNow)
            return state.time
        }
    }
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
