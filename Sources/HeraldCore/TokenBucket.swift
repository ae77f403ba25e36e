#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A send-rate limit: `ratePerSecond` tokens flow in each second, up to `burst`; every send
/// takes one. Time is passed in, so that tests drive it with a manual clock.
public struct TokenBucket: Sendable, Equatable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var updatedAt: Date?

    /// `burst` defaults to one second's worth, and never less than one token.
    public init(ratePerSecond: Double, burst: Double? = nil) {
        precondition(ratePerSecond > 0)
        self.ratePerSecond = ratePerSecond
        self.burst = max(1, burst ?? ratePerSecond)
        self.tokens = self.burst
    }

    /// Takes a token if there is one.
    public mutating func take(at now: Date) -> Bool {
        refill(at: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Gives back a token taken for a send that did not happen.
    public mutating func giveBack() {
        tokens = min(burst, tokens + 1)
    }

    /// The tokens there are at `now`, whole or not.
    public func available(at now: Date) -> Double {
        var bucket = self
        bucket.refill(at: now)
        return bucket.tokens
    }

    /// When the next token is there.
    public func nextTokenAt(_ now: Date) -> Date {
        var bucket = self
        bucket.refill(at: now)
        guard bucket.tokens < 1 else { return now }
        return now.addingTimeInterval((1 - bucket.tokens) / ratePerSecond)
    }

    private mutating func refill(at now: Date) {
        if let updatedAt, now > updatedAt {
            tokens = min(burst, tokens + now.timeIntervalSince(updatedAt) * ratePerSecond)
        }
        if updatedAt == nil || now > updatedAt! { updatedAt = now }
    }
}
