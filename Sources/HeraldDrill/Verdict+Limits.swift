import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checks on limits the primary sets: a Retry-After and a daily quota.
extension Verdict {
    /// throttle: after the primary's first throttled answer at T, no attempt reaches it before
    /// T + Retry-After. An answer is throttled when it is a transient failure that came after
    /// the drill asked for the throttle (the primary was healthy before); T is when it came.
    static func throttleRespected(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "Retry-After respected"
        guard let throttle = recording.span(ofChange: 0) else { return Check(name, passed: false, "the throttle was never applied") }
        let onPrimary = recording.attempts.filter { $0.provider == plan.primary }
        guard
            let answered = onPrimary.filter({ $0.outcome == .failed && $0.errorClass == .transient }).map(\.finishedAt)
                .filter({ $0 >= throttle.start }).min()
        else {
            return Check(name, passed: false, "\(plan.primary) never answered with a throttle after \(recording.offset(throttle.start))")
        }
        let seconds = plan.thresholds.retryAfterSeconds
        let quietUntil = answered.addingTimeInterval(Double(seconds))
        let early = onPrimary.filter { $0.startedAt > answered.addingTimeInterval(admissionSlack) && $0.startedAt < quietUntil }
        let window =
            "between its first throttled answer at \(recording.offset(answered)) and \(recording.offset(quietUntil)) (Retry-After \(seconds) s)"
        guard let first = early.first else {
            let next =
                onPrimary.first { $0.startedAt >= quietUntil }.map { "; the next one came at \(recording.offset($0.startedAt))" } ?? ""
            return Check(name, passed: true, "no attempt reached \(plan.primary) \(window)\(next)")
        }
        return Check(
            name, passed: false,
            "\(count(early.count, "attempt")) reached \(plan.primary) \(window), the first at \(recording.offset(first.startedAt))"
        )
    }

    /// quota: the primary sends no more of the drill's emails than the daily quota it had left
    /// when the drill began, and the stream was long enough to go past that quota.
    static func quotaRespected(_ plan: DrillPlan, _ recording: DrillRecording) -> Check {
        let name = "daily quota respected"
        guard let remaining = plan.thresholds.quotaRemaining else { return Check(name, passed: false, "the daily quota is unknown") }
        let accepted = recording.emails.count + recording.unread
        guard accepted > remaining else {
            return Check(
                name, passed: false,
                "the stream had \(accepted) emails, not more than the \(remaining) left of the daily quota of \(plan.primary), so it never reached it"
            )
        }
        let sent = recording.attempts.filter { $0.provider == plan.primary && $0.outcome == .sent }.count
        return Check(
            name, passed: sent <= remaining,
            "\(plan.primary) sent \(sent) of the \(accepted) emails; \(remaining) were left of its daily quota when the drill began"
        )
    }
}
