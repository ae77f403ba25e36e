#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Counts calls, failures and latency over the last `duration`, in a fixed number of buckets,
/// so that its memory stays the same however many calls it sees.
public struct SlidingWindow: Sendable, Equatable {
    public struct Totals: Sendable, Equatable {
        public var calls = 0
        public var failures = 0
        public var latency: Duration = .zero

        public var failureRate: Double { calls == 0 ? 0 : Double(failures) / Double(calls) }
        public var successRate: Double? { calls == 0 ? nil : 1 - failureRate }
        public var meanLatency: Duration? { calls == 0 ? nil : latency / calls }
    }

    private struct Bucket: Sendable, Equatable {
        var index: Int64 = .min
        var totals = Totals()
    }

    private let bucketSeconds: Double
    private var buckets: [Bucket]

    public init(duration: Duration, bucketCount: Int = 10) {
        precondition(bucketCount > 0 && duration > .zero)
        self.bucketSeconds = duration.timeInterval / Double(bucketCount)
        self.buckets = Array(repeating: Bucket(), count: bucketCount)
    }

    private func bucketIndex(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / bucketSeconds).rounded(.down))
    }

    public mutating func record(failed: Bool, latency: Duration, at now: Date) {
        let index = bucketIndex(at: now)
        let slot = Int(((index % Int64(buckets.count)) + Int64(buckets.count)) % Int64(buckets.count))
        if buckets[slot].index != index {
            buckets[slot] = Bucket(index: index)
        }
        buckets[slot].totals.calls += 1
        buckets[slot].totals.latency += latency
        if failed { buckets[slot].totals.failures += 1 }
    }

    public func totals(at now: Date) -> Totals {
        let current = bucketIndex(at: now)
        let oldest = current - Int64(buckets.count) + 1
        var sum = Totals()
        for bucket in buckets where bucket.index >= oldest && bucket.index <= current {
            sum.calls += bucket.totals.calls
            sum.failures += bucket.totals.failures
            sum.latency += bucket.totals.latency
        }
        return sum
    }

    public mutating func reset() {
        for slot in buckets.indices { buckets[slot] = Bucket() }
    }
}
