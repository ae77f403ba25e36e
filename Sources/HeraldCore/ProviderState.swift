#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What Herald keeps about a provider across restarts, beside its send counts: whether an
/// operator paused it, until when its breaker is open, and until when it asked not to be called.
public struct ProviderStateRecord: Sendable, Equatable {
    public var provider: String
    public var paused: Bool
    public var breakerOpenUntil: Date?
    public var throttledUntil: Date?

    public init(provider: String, paused: Bool = false, breakerOpenUntil: Date? = nil, throttledUntil: Date? = nil) {
        self.provider = provider
        self.paused = paused
        self.breakerOpenUntil = breakerOpenUntil
        self.throttledUntil = throttledUntil
    }
}

/// Limits a provider reports about itself, such as Amazon SES's sending quota.
public struct ReportedLimits: Sendable, Equatable {
    /// Emails the account may send in any 24 hours; nil when unlimited.
    public var maxPer24Hours: Int?
    /// Emails the provider counted in the 24 hours before the report.
    public var sentLast24Hours: Int
    /// Emails per second; nil when unlimited.
    public var maxSendRate: Double?

    public init(maxPer24Hours: Int?, sentLast24Hours: Int, maxSendRate: Double?) {
        self.maxPer24Hours = maxPer24Hours
        self.sentLast24Hours = sentLast24Hours
        self.maxSendRate = maxSendRate
    }
}
