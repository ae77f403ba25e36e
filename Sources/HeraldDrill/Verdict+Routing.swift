import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checks on where traffic goes while the primary is broken and after it heals.
extension Verdict {
    /// outage: of the attempts that start from 1 s after the outage began until the primary is
    /// restored, at least 99 % go to other providers, but for the half-open probes the breaker
    /// may let through: `half_open_probes` in each open period the window spans. The probes are
    /// not traffic Herald sends the primary but the breaker asking whether it healed; how many
    /// fall in the window depends on where its open periods end, so they are allowed, not counted.
    static func trafficLeavesFailingPrimary(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "traffic leaves the failing primary"
        guard let outage = recording.span(ofChange: 0) else { return Check(name, passed: false, "the outage was never applied") }
        let from = outage.start.addingTimeInterval(1)
        let window = recording.attempts.filter { $0.startedAt >= from && $0.startedAt < outage.end }
        let range = "from \(recording.offset(from)) to \(recording.offset(outage.end))"
        guard !window.isEmpty else { return Check(name, passed: false, "no attempt started \(range)") }
        let onPrimary = window.filter { $0.provider == plan.primary }.count
        let probes = probesAllowed(plan, over: outage.end.timeIntervalSince(from))
        let beyondProbes = max(0, onPrimary - probes)
        return Check(
            name, passed: (window.count - beyondProbes) * 100 >= window.count * 99,
            "\(percent(window.count - beyondProbes, of: window.count)) of the \(window.count) attempts that started \(range) went to "
                + "providers other than \(plan.primary) or were its half-open probes (99 % required); \(onPrimary) went to "
                + "\(plan.primary), of which up to \(probes) may be probes"
        )
    }

    /// The half-open probes a breaker may let through in `seconds`: `half_open_probes` in each
    /// open period that ends within them.
    private static func probesAllowed(_ plan: DrillPlan, over seconds: TimeInterval) -> Int {
        guard let open = plan.thresholds.openSeconds, let probes = plan.thresholds.halfOpenProbes, open > 0 else { return 0 }
        return probes * Int((seconds / open).rounded(.up))
    }

    /// slowdown: in every whole second from 5 s after the slowdown until the primary is
    /// restored, under 10 % of the attempts that start go to the primary. A second without any
    /// attempt fails: it shows nothing moved anywhere.
    static func trafficLeavesSlowPrimary(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "traffic leaves the slow primary within 5 s"
        guard let slowdown = recording.span(ofChange: 0) else { return Check(name, passed: false, "the slowdown was never applied") }
        let attempts = recording.attempts
        var shares: [(second: Int, onPrimary: Int, all: Int)] = []
        var second = 5
        while slowdown.start.addingTimeInterval(Double(second + 1)) <= slowdown.end {
            let start = slowdown.start.addingTimeInterval(Double(second))
            let inSecond = attempts.filter { $0.startedAt >= start && $0.startedAt < start.addingTimeInterval(1) }
            shares.append((second, inSecond.filter { $0.provider == plan.primary }.count, inSecond.count))
            second += 1
        }
        guard let last = shares.last else {
            return Check(name, passed: false, "the slowdown lasted under 6 s, so no whole second from 5 s after it could be judged")
        }
        let range = "seconds +5 to +\(last.second + 1) after the slowdown at \(recording.offset(slowdown.start))"
        let bad = shares.filter { $0.all == 0 || $0.onPrimary * 10 >= $0.all }
        guard bad.isEmpty else {
            let seconds = bad.map {
                $0.all == 0 ? "+\($0.second) s: no attempts" : "+\($0.second) s: \(percent($0.onPrimary, of: $0.all)) of \($0.all)"
            }
            return Check(
                name, passed: false, "\(plan.primary) took 10 % or more of the attempts in \(range): " + seconds.joined(separator: ", "))
        }
        let worst = shares.max { $0.onPrimary * $1.all < $1.onPrimary * $0.all } ?? last
        return Check(
            name, passed: true,
            "\(plan.primary) took under 10 % of the attempts in each of the \(shares.count) \(range) "
                + "(at most \(percent(worst.onPrimary, of: worst.all)), in second +\(worst.second))"
        )
    }

    /// recovery: after the primary heals, it carries traffic again within its breaker's open
    /// time + 2 s. Its first `half_open_probes` successful attempts after healing may be
    /// probes, so the primary carries traffic once the next one starts.
    static func trafficReturns(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "traffic returns to the healed primary"
        guard let healing = recording.span(ofChange: 1), let open = plan.thresholds.openSeconds, let probes = plan.thresholds.halfOpenProbes
        else { return Check(name, passed: false, "the primary was never healed") }
        let deadline = healing.start.addingTimeInterval(open + 2)
        let successes = recording.attempts.filter { $0.provider == plan.primary && $0.outcome == .sent && $0.startedAt >= healing.start }
        let limit = "open time \(open.secondsText) + 2 s, by \(recording.offset(deadline))"
        guard successes.count > probes else {
            return Check(
                name, passed: false,
                "after it healed at \(recording.offset(healing.start)), \(plan.primary) sent \(successes.count) emails, no more than its "
                    + "\(probes) half-open probes (limit: \(limit))"
            )
        }
        let returned = successes[probes].startedAt
        return Check(
            name, passed: returned < deadline,
            "\(plan.primary) carried traffic again at \(recording.offset(returned)), \(returned.timeIntervalSince(healing.start).secondsText) "
                + "after it healed (limit: \(limit)); its first \(probes) successful attempts count as half-open probes"
        )
    }
}
