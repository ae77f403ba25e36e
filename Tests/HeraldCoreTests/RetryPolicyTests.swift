import Foundation
import HeraldCore
import HeraldTesting
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy.exponentialJitter(base: .seconds(30), cap: .seconds(900), maxAttempts: 18, maxAge: .seconds(72 * 3600))
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: [(1, 30), (2, 60), (3, 120), (5, 480), (6, 900), (17, 900)])
    func `the ceiling doubles each round up to the cap`(round: Int, seconds: Int64) {
        #expect(policy.ceiling(afterRound: round) == .seconds(seconds))
    }

    @Test func `delays are drawn from zero up to the ceiling`() {
        var generator = SeededRandomNumberGenerator(seed: 7)
        var delays: [TimeInterval] = []
        for _ in 0..<2000 {
            guard case .retry(let at) = policy.decision(afterRound: 3, acceptedAt: now, now: now, using: &generator) else {
                Issue.record("expected a retry")
                return
            }
            delays.append(at.timeIntervalSince(now))
        }
        #expect(delays.allSatisfy { $0 >= 0 && $0 <= 120 })
        // Full jitter spreads delays over the whole range, not near the ceiling.
        #expect(delays.min()! < 5)
        #expect(delays.max()! > 115)
        let mean = delays.reduce(0, +) / Double(delays.count)
        #expect(abs(mean - 60) < 5)
    }

    @Test func `a provider's retry-after is a lower bound`() {
        var generator = SeededRandomNumberGenerator(seed: 1)
        for _ in 0..<100 {
            let decision = policy.decision(afterRound: 1, acceptedAt: now, now: now, retryAfter: .seconds(45), using: &generator)
            guard case .retry(let at) = decision else {
                Issue.record("expected a retry")
                return
            }
            #expect(at.timeIntervalSince(now) >= 45)
        }
    }

    @Test func `gives up after the last round`() {
        var generator = SeededRandomNumberGenerator(seed: 1)
        #expect(policy.decision(afterRound: 18, acceptedAt: now, now: now, using: &generator) == .giveUp(reason: "max_attempts_reached"))
        if case .giveUp = policy.decision(afterRound: 17, acceptedAt: now, now: now, using: &generator) {
            Issue.record("round 17 of 18 should still retry")
        }
    }

    @Test func `gives up when the next attempt would pass the maximum age`() {
        var generator = SeededRandomNumberGenerator(seed: 1)
        let acceptedAt = now.addingTimeInterval(-72 * 3600 + 10)
        let decision = policy.decision(afterRound: 2, acceptedAt: acceptedAt, now: now, retryAfter: .seconds(20), using: &generator)
        #expect(decision == .giveUp(reason: "max_age_reached"))
    }
}
