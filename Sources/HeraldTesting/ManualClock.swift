// HeraldTesting holds what several test targets share: a clock moved by hand, a
// deterministic random source, and the built `herald` binary run as a process.
import Foundation
import HeraldCore
import Synchronization

/// A clock that stands still until a test moves it.
public final class ManualClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        self.current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.adding(duration) }
    }
}

/// The system clock and the monotonic clock, each moved by hand.
public final class SteppableClocks: Sendable {
    public init() {}

    private let system = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    private let elapsed = Mutex(Duration.zero)

    public var systemTime: Date { system.withLock { $0 } }

    /// Time passes: both clocks move on.
    public func pass(_ duration: Duration) {
        system.withLock { $0 = $0.adding(duration) }
        elapsed.withLock { $0 += duration }
    }

    /// The system clock alone steps, as an NTP correction or `date -s` steps it.
    public func step(_ duration: Duration) {
        system.withLock { $0 = $0.adding(duration) }
    }

    public func makeSteadyClock() -> SteadyWallClock {
        SteadyWallClock(systemTime: { self.system.withLock { $0 } }, elapsed: { self.elapsed.withLock { $0 } })
    }
}

/// SplitMix64: the same seed gives the same sequence, so jitter is repeatable in tests.
public struct SeededRandomNumberGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
