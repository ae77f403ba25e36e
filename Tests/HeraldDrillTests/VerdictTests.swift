import HeraldCore
import HeraldDrill
import Testing

/// Each scenario's checks on made-up recordings: one that behaves, and ones that must fail.
@Suite("Verdict")
struct VerdictTests {
    static let failing = SandboxBehavior(failureRate: 1, failureClass: .transient)

    /// The primary fails from 1 s; its breaker opens at 1.3 s and a probe fails at 4.3 s.
    static func outage(breakerOpensAt opened: Double = 1.3) -> SyntheticDrill {
        var drill = SyntheticDrill(.outage)
        drill.stream(from: 0, to: 1, Routes.primary)
        drill.change("outage", at: 1, to: failing)
        drill.stream(from: 1, to: opened, Routes.failOver)
        drill.stream(from: opened, to: 7, Routes.secondary)
        drill.email(at: 4.3, [("primary", true), ("secondary", false)])
        drill.change("restore", at: 7)
        return drill
    }

    @Test func `an outage passes when traffic leaves the primary within a second and no email fails`() {
        let verdict = Self.outage().verdict
        #expect(verdict.passed, "\(verdict)")
        #expect(
            verdict.checks.map(\.reason) == [
                "Herald accepted all 281 emails",
                "100.0 % of the 202 attempts that started from +2 s to +7 s went to providers other than primary or were its "
                    + "half-open probes (99 % required); 1 went to primary, of which up to 2 may be probes",
                "all 281 emails are final and none failed (281 sent)",
            ]
        )
    }

    /// Two probes an open period, over a window that spans two: four attempts on the failing
    /// primary out of 202, 2 %, all of them the breaker's.
    @Test func `an outage passes when the breaker's probes are all that reach the primary`() {
        var drill = Self.outage()
        drill.plan.thresholds.halfOpenProbes = 2
        drill.email(at: 4.31, [("primary", true), ("secondary", false)])
        drill.email(at: 6.9, [("primary", true), ("secondary", false)])
        drill.email(at: 6.91, [("primary", true), ("secondary", false)])
        let check = drill.check("traffic leaves the failing primary")
        #expect(check?.passed == true, "\(String(describing: check))")
        drill.email(at: 6.92, [("primary", true), ("secondary", false)])
        drill.email(at: 6.93, [("primary", true), ("secondary", false)])
        drill.email(at: 6.94, [("primary", true), ("secondary", false)])
        #expect(drill.check("traffic leaves the failing primary")?.passed == false, "three more than the probes: over 1 %")
    }

    @Test func `an outage fails when the primary keeps traffic past the first second`() {
        let check = Self.outage(breakerOpensAt: 2.5).check("traffic leaves the failing primary")
        #expect(check?.passed == false)
        // 21 attempts on the primary, 2 of them allowed as probes.
        #expect(check?.reason.hasPrefix("91.4 % of the 222 attempts") == true, "\(String(describing: check))")
    }

    @Test func `an outage fails when an email fails`() {
        var drill = Self.outage()
        drill.email(at: 5, [("primary", true), ("secondary", true)])
        let check = drill.check("no email failed")
        #expect(check?.passed == false)
        #expect(check?.reason == "of 282 emails 1 failed (such as email-281)")
    }

    /// The primary slows down at 1 s; traffic leaves it at `movedAt`.
    static func slowdown(movedAt moved: Double) -> SyntheticDrill {
        var drill = SyntheticDrill(.slowdown, thresholds: .init(slowMilliseconds: 100))
        drill.stream(from: 0, to: moved, Routes.primary)
        drill.change("slowdown", at: 1, to: SandboxBehavior(latencyMilliseconds: 300))
        drill.stream(from: moved, to: 9, Routes.secondary)
        drill.change("restore", at: 9)
        return drill
    }

    @Test func `a slowdown passes when traffic leaves the primary within 5 s`() {
        let verdict = Self.slowdown(movedAt: 3).verdict
        #expect(verdict.passed, "\(verdict)")
    }

    @Test func `a slowdown fails when the primary still takes traffic 5 s later`() {
        let check = Self.slowdown(movedAt: 6.5).check("traffic leaves the slow primary within 5 s")
        #expect(check?.passed == false)
        #expect(
            check?.reason
                == "primary took 10 % or more of the attempts in seconds +5 to +8 after the slowdown at +1 s: +5 s: 50.0 % of 40"
        )
    }

    /// Flapping with one probe per open period: open from 1.2 s to 4.2 s, a failed probe,
    /// open again until 7.2 s, then a probe that succeeds and traffic back on the primary,
    /// whose calls take `returnLatency` milliseconds.
    static func flapping(returnLatency: Int = 0) -> SyntheticDrill {
        var drill = SyntheticDrill(.flapping)
        drill.stream(from: 0, to: 1, Routes.primary)
        drill.change("fails", at: 1, to: failing)
        drill.stream(from: 1, to: 1.2, Routes.failOver)
        drill.stream(from: 1.2, to: 4.2, Routes.secondary)
        drill.email(at: 4.2, [("primary", true), ("secondary", false)])
        drill.change("heals", at: 5)
        drill.stream(from: 4.225, to: 7.2, Routes.secondary)
        drill.stream(from: 7.2, to: 10, latency: returnLatency, Routes.primary)
        for second in [1.5, 2.5, 3.5] { drill.sample(at: second, primary: "open", openUntil: 4.2) }
        for second in [4.5, 5.5, 6.5] { drill.sample(at: second, primary: "open", openUntil: 7.2) }
        for second in [7.5, 8.5, 9.5] { drill.sample(at: second, primary: "healthy") }
        drill.change("restore", at: 10)
        return drill
    }

    @Test func `flapping passes when the open breaker lets only its probes through`() {
        let check = Self.flapping().check("only half-open probes while the breaker is open")
        #expect(check?.passed == true)
        #expect(
            check?.reason
                == "the samples showed the breaker of primary open 2 times; it got no attempt while open and at most 1 while half-open (limit 1)"
        )
    }

    @Test func `flapping fails when an attempt reaches the primary while its breaker is open`() {
        var drill = Self.flapping()
        drill.email(at: 2, [("primary", false)])
        let check = drill.check("only half-open probes while the breaker is open")
        #expect(check?.passed == false)
        #expect(check?.reason == "open until +4.20 s: 1 attempt while open, the first at +2 s")
    }

    @Test func `flapping fails when more calls than probes pass while half-open`() {
        // Calls of 90 ms: three more start before the probe's answer closes the breaker.
        let check = Self.flapping(returnLatency: 90).check("only half-open probes while the breaker is open")
        #expect(check?.passed == false)
        #expect(check?.reason == "open until +7.20 s: 4 attempts while half-open (limit 1)")
    }

    @Test func `flapping fails when the breaker was never seen open`() {
        var drill = Self.flapping()
        drill.samples.removeAll()
        #expect(drill.check("only half-open probes while the breaker is open")?.passed == false)
    }

    /// The primary throttles from 1 s with Retry-After 3 s and is next tried at `retriedAt`.
    static func throttle(retriedAt retried: Double) -> SyntheticDrill {
        var drill = SyntheticDrill(.throttle, thresholds: .init(retryAfterSeconds: 3))
        drill.stream(from: 0, to: 1, Routes.primary)
        drill.change("throttle", at: 1, to: SandboxBehavior(failureRate: 1, retryAfterSeconds: 3))
        drill.email(at: 1.01, [("primary", true), ("secondary", false)])
        drill.stream(from: 1.05, to: 8, Routes.secondary)
        drill.email(at: retried, [("primary", true), ("secondary", false)])
        drill.change("restore", at: 8)
        return drill
    }

    @Test func `a throttle passes when nothing reaches the primary before Retry-After is over`() {
        let check = Self.throttle(retriedAt: 4.02).check("Retry-After respected")
        #expect(check?.passed == true)
        #expect(
            check?.reason
                == "no attempt reached primary between its first throttled answer at +1.01 s and +4.01 s (Retry-After 3 s); the next one came at +4.02 s"
        )
    }

    @Test func `a throttle fails when an attempt reaches the primary too soon`() {
        let check = Self.throttle(retriedAt: 2.5).check("Retry-After respected")
        #expect(check?.passed == false)
        #expect(
            check?.reason
                == "1 attempt reached primary between its first throttled answer at +1.01 s and +4.01 s (Retry-After 3 s), the first at +2.50 s"
        )
    }

    /// 200 emails of which the primary sends the first `sentByPrimary`.
    static func quota(sentByPrimary: Int, emails: Int = 200) -> SyntheticDrill {
        var drill = SyntheticDrill(.quota, thresholds: .init(quotaRemaining: 50))
        for index in 0..<emails { drill.email(at: Double(index) / 40, [(index < sentByPrimary ? "primary" : "secondary", false)]) }
        drill.change("restore", at: 5)
        return drill
    }

    @Test func `a quota passes when the primary sends no more than its quota`() {
        let verdict = Self.quota(sentByPrimary: 50).verdict
        #expect(verdict.passed, "\(verdict)")
    }

    @Test func `a quota fails when the primary sends past its quota`() {
        let check = Self.quota(sentByPrimary: 51).check("daily quota respected")
        #expect(check?.passed == false)
        #expect(check?.reason == "primary sent 51 of the 200 emails; 50 were left of its daily quota when the drill began")
    }

    @Test func `a quota fails when the stream never reached the quota`() {
        let check = Self.quota(sentByPrimary: 50, emails: 50).check("daily quota respected")
        #expect(check?.passed == false)
    }

    /// The primary fails from 1 s and heals at 5 s; its probe succeeds at `returnedAt` and
    /// traffic follows.
    static func recovery(returnedAt returned: Double) -> SyntheticDrill {
        var drill = SyntheticDrill(.recovery, thresholds: .init(openSeconds: 3, halfOpenProbes: 2))
        drill.stream(from: 0, to: 1, Routes.primary)
        drill.change("fails", at: 1, to: failing)
        drill.stream(from: 1, to: 1.2, Routes.failOver)
        drill.stream(from: 1.2, to: returned, Routes.secondary)
        drill.change("heals", at: 5)
        drill.stream(from: returned, to: 11, Routes.primary)
        drill.change("restore", at: 11)
        return drill
    }

    @Test func `recovery passes when the primary carries traffic within the open time + 2 s`() {
        let check = Self.recovery(returnedAt: 7.5).check("traffic returns to the healed primary")
        #expect(check?.passed == true)
        #expect(
            check?.reason
                == "primary carried traffic again at +7.55 s, 2.55 s after it healed (limit: open time 3 s + 2 s, by +10 s); "
                + "its first 2 successful attempts count as half-open probes"
        )
    }

    @Test func `recovery fails when the primary comes back too late`() {
        let check = Self.recovery(returnedAt: 10.5).check("traffic returns to the healed primary")
        #expect(check?.passed == false)
    }

    @Test func `a refused send fails the verdict`() {
        var drill = Self.outage()
        drill.sendFailures = ["POST /v1/emails answered 503"]
        let verdict = drill.verdict
        #expect(!verdict.passed)
        #expect(verdict.checks[0].reason == "1 of 282 emails were not accepted, the first because POST /v1/emails answered 503")
    }
}
