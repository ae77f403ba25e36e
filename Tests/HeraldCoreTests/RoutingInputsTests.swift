import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Latency tracker")
struct LatencyTrackerTests {
    let clock = ManualClock()

    @Test func `estimates p50 and p95 within a bucket's 25 percent and follows the latest calls with the EWMA`() {
        var tracker = LatencyTracker(window: .seconds(10))
        for latency in 1...100 { tracker.record(.milliseconds(latency * 10), at: clock.now) }
        let summary = tracker.summary(at: clock.now)
        #expect(summary.samples == 100)
        let p50 = try! #require(summary.p50).milliseconds
        let p95 = try! #require(summary.p95).milliseconds
        #expect((500...625).contains(p50))
        #expect((950...1188).contains(p95))
        let ewma = try! #require(summary.ewma).milliseconds
        #expect(ewma > 800, "the moving average leans towards the latest, slowest calls")
    }

    @Test func `forgets calls older than the window, but keeps the moving average`() {
        var tracker = LatencyTracker(window: .seconds(10))
        tracker.record(.milliseconds(300), at: clock.now)
        clock.advance(by: .seconds(11))
        let summary = tracker.summary(at: clock.now)
        #expect(summary.samples == 0)
        #expect(summary.p95 == nil)
        #expect(summary.ewma == .milliseconds(300))
    }
}

@Suite("Token bucket")
struct TokenBucketTests {
    let clock = ManualClock()

    @Test func `lets a burst through, then one token per interval`() {
        var bucket = TokenBucket(ratePerSecond: 2)
        let burst = (0..<3).map { _ in bucket.take(at: clock.now) }
        #expect(burst == [true, true, false])
        #expect(bucket.nextTokenAt(clock.now) == clock.now.addingTimeInterval(0.5))
        clock.advance(by: .milliseconds(499))
        let early = bucket.take(at: clock.now)
        clock.advance(by: .milliseconds(1))
        let onTime = bucket.take(at: clock.now)
        #expect(!early && onTime)
        clock.advance(by: .seconds(60))
        let taken = (0..<5).filter { _ in bucket.take(at: clock.now) }.count
        #expect(taken == 2, "tokens never pile up beyond the burst")
    }

    @Test func `a token given back can be taken again`() {
        var bucket = TokenBucket(ratePerSecond: 1)
        let first = bucket.take(at: clock.now)
        bucket.giveBack()
        let again = bucket.take(at: clock.now)
        #expect(first && again)
    }
}

@Suite("Send quota")
struct SendQuotaTests {
    /// 2027-01-31 23:59:30 UTC.
    let clock = ManualClock(Date(timeIntervalSince1970: 1_801_439_970))

    @Test func `stops at the limit and starts again with the next UTC day`() {
        var quota = SendQuota(period: .day, limit: 2, now: clock.now)
        let taken = (0..<3).map { _ in quota.take(at: clock.now) }
        #expect(taken == [true, true, false])
        let usage = quota.usage(at: clock.now)
        #expect(usage.used == 2)
        #expect(usage.resetsAt == Date(timeIntervalSince1970: 1_801_440_000))
        clock.advance(by: .seconds(30))
        let exhaustedNextDay = quota.isExhausted(at: clock.now)
        #expect(!exhaustedNextDay)
        let usedNextDay = quota.usage(at: clock.now).used
        #expect(usedNextDay == 0)
    }

    @Test func `counts a month from the first of the month and carries on from the stored count`() {
        let period = SendQuota.Period.month
        #expect(period.start(containing: clock.now) == Date(timeIntervalSince1970: 1_798_761_600))  // 2027-01-01
        #expect(period.end(containing: clock.now) == Date(timeIntervalSince1970: 1_801_440_000))  // 2027-02-01
        var quota = SendQuota(period: .month, limit: 10, used: 9, now: clock.now)
        let taken = (0..<2).map { _ in quota.take(at: clock.now) }
        #expect(taken == [true, false])
    }

    @Test func `gives back a send that did not happen, but not into a new period`() {
        var quota = SendQuota(period: .day, limit: 1, now: clock.now)
        let takenAt = clock.now
        let first = quota.take(at: takenAt)
        quota.giveBack(takenAt: takenAt)
        let again = quota.take(at: clock.now)
        #expect(first && again)
        clock.advance(by: .seconds(60))
        let nextDay = quota.take(at: clock.now)
        quota.giveBack(takenAt: takenAt)
        let exhausted = quota.isExhausted(at: clock.now)
        #expect(nextDay && exhausted, "yesterday's send does not free today's quota")
    }

    @Test func `without a limit it only counts`() {
        var quota = SendQuota(period: .day, limit: nil, now: clock.now)
        let taken = (0..<1000).filter { _ in quota.take(at: clock.now) }.count
        #expect(taken == 1000)
    }
}
