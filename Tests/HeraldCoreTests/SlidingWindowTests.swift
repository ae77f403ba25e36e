import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Sliding window")
struct SlidingWindowTests {
    @Test func `sums calls failures and latency inside the window`() {
        let clock = ManualClock()
        var window = SlidingWindow(duration: .seconds(10))
        window.record(failed: false, latency: .milliseconds(100), at: clock.now)
        clock.advance(by: .seconds(5))
        window.record(failed: true, latency: .milliseconds(300), at: clock.now)
        let totals = window.totals(at: clock.now)
        #expect(totals.calls == 2)
        #expect(totals.failures == 1)
        #expect(totals.failureRate == 0.5)
        #expect(totals.meanLatency == .milliseconds(200))
    }

    @Test func `drops buckets older than the window`() {
        let clock = ManualClock()
        var window = SlidingWindow(duration: .seconds(10))
        window.record(failed: true, latency: .zero, at: clock.now)
        clock.advance(by: .seconds(10))
        window.record(failed: false, latency: .zero, at: clock.now)
        #expect(window.totals(at: clock.now).calls == 1)
        clock.advance(by: .seconds(30))
        #expect(window.totals(at: clock.now).calls == 0)
        #expect(window.totals(at: clock.now).successRate == nil)
    }
}
