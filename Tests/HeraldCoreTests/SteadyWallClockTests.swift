import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Steady wall clock")
struct SteadyWallClockTests {
    @Test(arguments: [Duration.seconds(3600), .seconds(-3600)])
    func `a step of the system clock moves it by 1 % of the time that passes at most`(step: Duration) {
        let clocks = SteppableClocks()
        let clock = clocks.makeSteadyClock()
        let start = clock.now
        clocks.step(step)
        var previous = clock.now
        #expect(previous == start, "no time passed, so the clock did not move")
        for _ in 0..<100 {
            clocks.pass(.seconds(1))
            let now = clock.now
            let advanced = now.timeIntervalSince(previous)
            #expect(advanced >= 0.99 && advanced <= 1.01, "one second passed; the clock moved \(advanced) s")
            previous = now
        }
    }

    @Test func `follows the system clock by slewing until it has caught up`() {
        let clocks = SteppableClocks()
        let clock = clocks.makeSteadyClock()
        clocks.step(.milliseconds(500))
        clocks.pass(.seconds(49))
        #expect(clocks.systemTime.timeIntervalSince(clock.now) > 0.005, "half of the difference is left")
        clocks.pass(.seconds(1))
        _ = clock.now
        clocks.pass(.seconds(1))
        #expect(abs(clocks.systemTime.timeIntervalSince(clock.now)) < 0.001)
    }

    @Test func `the system clock is read as it is`() {
        let before = Date()
        let now = SteadyWallClock().now
        #expect(abs(now.timeIntervalSince(before)) < 1)
    }
}
