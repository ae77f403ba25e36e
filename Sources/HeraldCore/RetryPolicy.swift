#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// When to try an email again after a round in which no provider took it.
///
/// Delays grow exponentially with "full jitter": after round `n` the delay is drawn uniformly
/// from `0 ... min(cap, base × 2^(n-1))`, which spreads retries of many emails that failed
/// together instead of sending them back in a burst.
public struct RetryPolicy: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    /// Delivery rounds an email gets before it fails.
    public var maxAttempts: Int
    /// Time from acceptance after which an email is not retried any more.
    public var maxAge: Duration

    public static func exponentialJitter(base: Duration, cap: Duration, maxAttempts: Int, maxAge: Duration) -> RetryPolicy {
        RetryPolicy(base: base, cap: cap, maxAttempts: maxAttempts, maxAge: maxAge)
    }

    public enum Decision: Sendable, Equatable {
        case retry(at: Date)
        case giveUp(reason: String)
    }

    /// The longest delay jitter may choose after round `round` (1-based).
    public func ceiling(afterRound round: Int) -> Duration {
        let exponent = min(max(round - 1, 0), 62)
        let seconds = base.timeInterval * Double(UInt64(1) << UInt64(exponent))
        return min(cap, .milliseconds(Int64(min(seconds, cap.timeInterval) * 1000)))
    }

    /// Decides what follows round `round` of an email accepted at `acceptedAt`. A provider's
    /// `retryAfter` is a lower bound on the delay.
    public func decision(
        afterRound round: Int,
        acceptedAt: Date,
        now: Date,
        retryAfter: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Decision {
        guard round < maxAttempts else {
            return .giveUp(reason: "max_attempts_reached")
        }
        let ceilingMilliseconds = ceiling(afterRound: round).milliseconds
        var delay = Duration.milliseconds(Int64.random(in: 0...ceilingMilliseconds, using: &generator))
        if let retryAfter, retryAfter > delay {
            delay = retryAfter
        }
        let next = now.adding(delay)
        guard next <= acceptedAt.adding(maxAge) else {
            return .giveUp(reason: "max_age_reached")
        }
        return .retry(at: next)
    }
}
