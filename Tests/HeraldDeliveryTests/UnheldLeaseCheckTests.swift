import Testing

@testable import HeraldDelivery

@Suite("When the dispatcher looks for leases no round holds")
struct UnheldLeaseCheckTests {
    let start = ContinuousClock.now

    @Test func `looks now and then while the store answers`() {
        var check = UnheldLeaseCheck(now: start)
        #expect(!check.isDue(at: start + .seconds(4)))
        #expect(check.isDue(at: start + UnheldLeaseCheck.interval))
        check.looked(at: start + .seconds(5))
        #expect(!check.isDue(at: start + .seconds(9)))
        #expect(check.isDue(at: start + .seconds(10)))
    }

    @Test func `looks before every lease for a while after a store failure, then now and then again`() {
        var check = UnheldLeaseCheck(now: start)
        check.storeFailed(at: start + .seconds(1))
        for second in 1...11 {
            #expect(check.isDue(at: start + .seconds(second)))
            check.looked(at: start + .seconds(second))
        }
        #expect(!check.isDue(at: start + .milliseconds(11_500)), "the window ended at 11 s")
        #expect(check.isDue(at: start + .seconds(16)))
    }
}
