#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A provider's health as operators see it.
public struct ProviderStatus: Sendable, Equatable {
    public var name: String
    public var kind: String
    public var priority: Int
    /// `closed`, `open` or `half_open`.
    public var breakerState: String
    public var breakerOpenUntil: Date?
    /// The provider asked not to be called before this time.
    public var throttledUntil: Date?
    /// Calls in the recent window, and the share that succeeded (nil with no calls).
    public var recentCalls: Int
    public var recentSuccessRate: Double?
    public var recentMeanLatencyMilliseconds: Int?

    public init(
        name: String, kind: String, priority: Int, breakerState: String, breakerOpenUntil: Date?, throttledUntil: Date?,
        recentCalls: Int, recentSuccessRate: Double?, recentMeanLatencyMilliseconds: Int?
    ) {
        self.name = name
        self.kind = kind
        self.priority = priority
        self.breakerState = breakerState
        self.breakerOpenUntil = breakerOpenUntil
        self.throttledUntil = throttledUntil
        self.recentCalls = recentCalls
        self.recentSuccessRate = recentSuccessRate
        self.recentMeanLatencyMilliseconds = recentMeanLatencyMilliseconds
    }
}
