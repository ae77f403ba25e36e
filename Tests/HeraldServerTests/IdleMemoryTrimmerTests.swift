import Testing

@testable import HeraldServer

@Suite("Idle memory trimmer")
struct IdleMemoryTrimmerTests {
    /// Whether the policy trims after each of `intervals`, given as the CPU milliseconds used
    /// in five seconds.
    func trims(_ cpuMilliseconds: [Int]) -> [Bool] {
        var policy = IdleMemoryTrimmer.Policy(quietShare: 0.02)
        return cpuMilliseconds.map { policy.trimAfter(cpu: .milliseconds($0), wall: .seconds(5)) }
    }

    @Test func `trims once when the process falls quiet, not again until it has worked`() {
        // Start-up counts as work: the first quiet interval trims.
        #expect(trims([0, 0, 0]) == [true, false, false])
        #expect(trims([4_000, 3_000, 50, 20, 100]) == [false, false, true, false, false])
        #expect(trims([90, 2_000, 10, 5_000, 0]) == [true, false, true, false, true])
    }

    @Test func `never under load, however long it lasts`() {
        #expect(trims(Array(repeating: 150, count: 50)).allSatisfy { !$0 })
        // 2 % of five seconds is 100 ms: just over is work, just under is quiet.
        #expect(trims([101, 100]) == [false, true])
    }
}
