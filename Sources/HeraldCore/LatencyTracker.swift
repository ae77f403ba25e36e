#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A provider's recent latency: p50 and p95 over a sliding window, and an exponentially
/// weighted moving average that follows the latest calls.
///
/// The window is a ring of time buckets, each a histogram with bounds 25 % apart, so memory and
/// the cost of a summary stay fixed however many calls there are; a percentile is the upper
/// bound of the histogram bucket it falls in, at most 25 % above the true value.
public struct LatencyTracker: Sendable {
    public struct Summary: Sendable, Equatable {
        public var p50: Duration?
        public var p95: Duration?
        public var ewma: Duration?
        public var samples: Int
    }

    /// Upper bounds in milliseconds: 1 ms, 1.25 ms, ... up to past 2 minutes; the last bucket
    /// takes anything slower.
    static let boundsMilliseconds: [Double] = {
        var bounds = [1.0]
        while bounds.count < 55 { bounds.append(bounds.last! * 1.25) }
        return bounds
    }()

    private struct Slot: Sendable {
        var index: Int64 = .min
        var counts = [Int32](repeating: 0, count: LatencyTracker.boundsMilliseconds.count)
        var total = 0
    }

    private let slotSeconds: Double
    private let smoothing: Double
    private var slots: [Slot]
    private var ewmaMilliseconds: Double?

    /// `smoothing` is the weight of each new call in the moving average.
    public init(window: Duration, slotCount: Int = 10, smoothing: Double = 0.2) {
        precondition(window > .zero && slotCount > 0 && (0...1).contains(smoothing))
        self.slotSeconds = window.timeInterval / Double(slotCount)
        self.smoothing = smoothing
        self.slots = Array(repeating: Slot(), count: slotCount)
    }

    public mutating func record(_ latency: Duration, at now: Date) {
        let milliseconds = latency.timeInterval * 1000
        ewmaMilliseconds = ewmaMilliseconds.map { $0 + smoothing * (milliseconds - $0) } ?? milliseconds
        let index = slotIndex(at: now)
        let position = Int(((index % Int64(slots.count)) + Int64(slots.count)) % Int64(slots.count))
        if slots[position].index != index { slots[position] = Slot(index: index) }
        let bucket = Self.boundsMilliseconds.firstIndex { milliseconds <= $0 } ?? Self.boundsMilliseconds.count - 1
        slots[position].counts[bucket] += 1
        slots[position].total += 1
    }

    public func summary(at now: Date) -> Summary {
        let current = slotIndex(at: now)
        let live = slots.filter { $0.index > current - Int64(slots.count) && $0.index <= current }
        let (p50, p95, total) = Self.percentiles(of: live)
        return Summary(p50: p50, p95: p95, ewma: ewmaMilliseconds.map { Duration.milliseconds($0) }, samples: total)
    }

    /// One slot of the window: when it started, and its own p50 and p95 (nil without calls).
    public struct Point: Sendable, Equatable {
        public var start: Date
        public var p50: Duration?
        public var p95: Duration?
        public var samples: Int
    }

    /// The window slot by slot, oldest first, the current slot last: how latency moved, for a
    /// chart.
    public func history(at now: Date) -> [Point] {
        let current = slotIndex(at: now)
        return (current - Int64(slots.count) + 1...current).map { index in
            let live = slots.filter { $0.index == index }
            let (p50, p95, total) = Self.percentiles(of: live)
            return Point(start: Date(timeIntervalSince1970: Double(index) * slotSeconds), p50: p50, p95: p95, samples: total)
        }
    }

    /// The p50 and p95 of the calls in `slots` together, and how many calls they hold.
    private static func percentiles(of slots: [Slot]) -> (p50: Duration?, p95: Duration?, samples: Int) {
        let total = slots.reduce(0) { $0 + $1.total }
        guard total > 0 else { return (nil, nil, 0) }
        var counts = [Int](repeating: 0, count: boundsMilliseconds.count)
        for slot in slots {
            for bucket in counts.indices { counts[bucket] += Int(slot.counts[bucket]) }
        }
        func percentile(_ share: Double) -> Duration {
            let rank = Int((share * Double(total)).rounded(.up))
            var seen = 0
            for (bucket, count) in counts.enumerated() {
                seen += count
                if seen >= rank { return .milliseconds(boundsMilliseconds[bucket]) }
            }
            return .milliseconds(boundsMilliseconds[counts.count - 1])
        }
        return (percentile(0.5), percentile(0.95), total)
    }

    private func slotIndex(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / slotSeconds).rounded(.down))
    }
}
