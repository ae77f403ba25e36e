#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps traffic away from a provider that keeps failing, and lets a few probe calls through
/// once it may have recovered.
///
/// A plain state machine: callers pass the time in and do the I/O themselves.
/// - `closed`: calls pass; each outcome enters a sliding window. When the window holds at
///   least `minimumCalls` and the share of failures (slow calls included) reaches
///   `failureRateThreshold`, the breaker opens. It also opens after `consecutiveFailures`
///   failures in a row, whatever the window holds: after a busy healthy period the window's
///   rate takes many seconds to pass the threshold, and every call until then goes into the
///   outage (Envoy's outlier detection has the same trip, on consecutive 5xx).
/// - `open`: calls are refused until `openDuration` has passed, then the breaker is half-open.
/// - `halfOpen`: up to `halfOpenProbes` calls pass as probes. When that many succeed the breaker
///   closes with an empty window; the first failure opens it again.
public struct CircuitBreaker: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var failureRateThreshold: Double
        public var minimumCalls: Int
        /// Failures in a row that open the breaker, however many calls succeeded before them.
        public var consecutiveFailures: Int
        public var window: Duration
        public var openDuration: Duration
        public var halfOpenProbes: Int
        /// A successful call slower than this counts as a failure.
        public var slowCallThreshold: Duration

        public init(
            failureRateThreshold: Double = 0.5,
            minimumCalls: Int = 10,
            consecutiveFailures: Int = 5,
            window: Duration = .seconds(30),
            openDuration: Duration = .seconds(30),
            halfOpenProbes: Int = 3,
            slowCallThreshold: Duration = .seconds(10)
        ) {
            self.failureRateThreshold = failureRateThreshold
            self.minimumCalls = minimumCalls
            self.consecutiveFailures = consecutiveFailures
            self.window = window
            self.openDuration = openDuration
            self.halfOpenProbes = halfOpenProbes
            self.slowCallThreshold = slowCallThreshold
        }
    }

    public enum State: Sendable, Equatable {
        case closed
        case open(until: Date)
        case halfOpen

        public var name: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
        }
    }

    /// Leave to make one call. Outcomes of calls let through in an earlier state are ignored,
    /// so a slow call that started before the breaker opened cannot close it.
    public struct Permit: Sendable, Equatable {
        let generation: Int
        let isProbe: Bool
    }

    public enum Outcome: Sendable, Equatable {
        case success
        case failure
    }

    public let configuration: Configuration
    public private(set) var state: State = .closed
    private var window: SlidingWindow
    /// Failures since the last success while closed.
    private var failuresInARow = 0
    private var generation = 0
    private var probesInFlight = 0
    private var probeSuccesses = 0

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.window = SlidingWindow(duration: configuration.window)
    }

    /// The state as a caller would find it at `now`: an open breaker whose time has passed is
    /// half-open, although it only moves there on the next ``acquire(now:)``.
    public func state(at now: Date) -> State {
        if case .open(let until) = state, now >= until { return .halfOpen }
        return state
    }

    /// Asks to make a call now. Returns nil while the breaker refuses calls.
    public mutating func acquire(now: Date) -> Permit? {
        switch state {
        case .closed:
            return Permit(generation: generation, isProbe: false)
        case .open(let until):
            guard now >= until else { return nil }
            transition(to: .halfOpen)
            return takeProbe()
        case .halfOpen:
            return takeProbe()
        }
    }

    /// Records how a permitted call ended.
    public mutating func record(_ outcome: Outcome, latency: Duration, permit: Permit, now: Date) {
        guard permit.generation == generation else { return }
        let failed = outcome == .failure || latency >= configuration.slowCallThreshold
        switch state {
        case .closed:
            window.record(failed: failed, latency: latency, at: now)
            guard failed else {
                failuresInARow = 0
                return
            }
            failuresInARow += 1
            let totals = window.totals(at: now)
            if failuresInARow >= configuration.consecutiveFailures
                || (totals.calls >= configuration.minimumCalls && totals.failureRate >= configuration.failureRateThreshold)
            {
                open(now: now)
            }
        case .halfOpen:
            guard permit.isProbe else { return }
            probesInFlight -= 1
            if failed {
                open(now: now)
            } else {
                probeSuccesses += 1
                if probeSuccesses >= configuration.halfOpenProbes {
                    transition(to: .closed)
                }
            }
        case .open:
            break
        }
    }

    /// Gives back a permit whose call never happened.
    public mutating func release(_ permit: Permit) {
        guard permit.generation == generation, permit.isProbe, case .halfOpen = state else { return }
        probesInFlight -= 1
    }

    /// Opens the breaker at once, as for a provider whose credentials were refused.
    public mutating func trip(now: Date) {
        open(now: now)
    }

    /// Opens the breaker until `until`, as a previous process left it.
    public mutating func restoreOpen(until: Date) {
        transition(to: .open(until: until))
    }

    private mutating func takeProbe() -> Permit? {
        guard probesInFlight + probeSuccesses < configuration.halfOpenProbes else { return nil }
        probesInFlight += 1
        return Permit(generation: generation, isProbe: true)
    }

    private mutating func open(now: Date) {
        transition(to: .open(until: now.adding(configuration.openDuration)))
    }

    private mutating func transition(to newState: State) {
        state = newState
        generation += 1
        probesInFlight = 0
        probeSuccesses = 0
        failuresInARow = 0
        window.reset()
    }
}
