import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Verdict {
    /// flapping: while the primary's breaker is open it gets no attempt, and once the open time
    /// is over at most `half_open_probes` until the breaker closes or opens again.
    ///
    /// The 1 s samples show each open period with its `open_until`; it began `open_seconds`
    /// earlier (or, without that threshold, at the first sample that showed it). The half-open
    /// spell after it ends as the breaker does: when `half_open_probes` calls have succeeded,
    /// or at the first call that failed against the provider, whichever answer came first.
    static func onlyProbesWhileOpen(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "only half-open probes while the breaker is open"
        guard let probes = plan.thresholds.halfOpenProbes else { return Check(name, passed: false, "half_open_probes is unknown") }
        var periods: [(opened: Date, until: Date)] = []
        for sample in recording.samples.sorted(by: { $0.at < $1.at }) {
            guard let primary = sample.providers.first(where: { $0.name == plan.primary }), primary.isBreakerOpen else { continue }
            guard let until = primary.openUntil else {
                return Check(name, passed: false, "GET /v1/providers shows the breaker of \(plan.primary) open without open_until")
            }
            if !periods.contains(where: { $0.until == until }) {
                periods.append((plan.thresholds.openSeconds.map { until.addingTimeInterval(-$0) } ?? sample.at, until))
            }
        }
        guard !periods.isEmpty else {
            return Check(name, passed: false, "the samples never showed the breaker of \(plan.primary) open, so nothing could be checked")
        }

        let onPrimary = recording.attempts.filter { $0.provider == plan.primary }
        var problems: [String] = []
        var mostProbes = 0
        for period in periods {
            let whileOpen = onPrimary.filter {
                $0.startedAt >= period.opened.addingTimeInterval(admissionSlack) && $0.startedAt < period.until
            }
            if let first = whileOpen.first {
                problems.append(
                    "open until \(recording.offset(period.until)): \(count(whileOpen.count, "attempt")) while open, the first at \(recording.offset(first.startedAt))"
                )
            }
            let later = onPrimary.filter { $0.startedAt >= period.until }
            let closed = later.filter { $0.outcome == .sent }.map(\.finishedAt).sorted().dropFirst(probes - 1).first
            let reopened = later.filter { $0.errorClass?.countsAgainstProvider == true }.map(\.finishedAt).min()
            let end = [closed, reopened].compactMap { $0 }.min() ?? .distantFuture
            // An answer that came by the end was a probe, even one that started in the end's millisecond.
            let halfOpen = later.filter { $0.startedAt < end || $0.finishedAt <= end }.count
            mostProbes = max(mostProbes, halfOpen)
            if halfOpen > probes {
                problems.append(
                    "open until \(recording.offset(period.until)): \(count(halfOpen, "attempt")) while half-open (limit \(probes))")
            }
        }
        guard problems.isEmpty else { return Check(name, passed: false, problems.joined(separator: "; ")) }
        return Check(
            name, passed: true,
            "the samples showed the breaker of \(plan.primary) open \(periods.count) times; it got no attempt while open and at most "
                + "\(mostProbes) while half-open (limit \(probes))"
        )
    }
}
