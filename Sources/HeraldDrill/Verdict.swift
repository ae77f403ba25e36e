import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// PASS or FAIL, with each check and its reason. A check that lacks the data to decide fails:
/// a drill that never saw the primary's breaker open proves nothing about open breakers.
public struct Verdict: Sendable, Equatable {
    public struct Check: Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var reason: String

        public init(_ name: String, passed: Bool, _ reason: String) {
            self.name = name
            self.passed = passed
            self.reason = reason
        }
    }

    public var checks: [Check]

    public var passed: Bool { checks.allSatisfy(\.passed) }

    public init(checks: [Check]) {
        self.checks = checks
    }

    /// Judges a recording by its scenario's checks, after checking that the stream was accepted.
    public init(plan: DrillPlan, recording: DrillRecording) {
        let scenarioChecks: [Check] =
            switch plan.scenario {
            case .outage, .busyOutage: [Self.trafficLeavesFailingPrimary(plan, recording), Self.noEmailFailed(recording)]
            case .slowdown: [Self.trafficLeavesSlowPrimary(plan, recording)]
            case .flapping: [Self.onlyProbesWhileOpen(plan, recording)]
            case .throttle: [Self.throttleRespected(plan, recording)]
            case .quota: [Self.quotaRespected(plan, recording), Self.noEmailFailed(recording)]
            case .recovery: [Self.trafficReturns(plan, recording)]
            }
        self.init(checks: [Self.streamAccepted(recording)] + scenarioChecks)
    }

    /// Herald reads an attempt's start time just before it asks the router for leave, and a
    /// failure's end time just before it tells the router; a call let through in between can
    /// carry a start time slightly after the breaker opened or the throttle began. Checks
    /// forgive that much.
    static let admissionSlack: TimeInterval = 0.1

    static func streamAccepted(_ recording: DrillRecording) -> Check {
        guard let first = recording.sendFailures.first else {
            return Check("stream accepted", passed: recording.sendsTried > 0, "Herald accepted all \(recording.sendsTried) emails")
        }
        return Check(
            "stream accepted", passed: false,
            "\(recording.sendFailures.count) of \(recording.sendsTried) emails were not accepted, the first because \(first)"
        )
    }

    static func noEmailFailed(_ recording: DrillRecording) -> Check {
        let failed = recording.emails.filter { $0.status == EmailStatus.failed.rawValue }
        let pending = recording.emails.filter { !$0.isFinal }
        var problems: [String] = []
        if !failed.isEmpty { problems.append("\(failed.count) failed (such as \(failed[0].id))") }
        if !pending.isEmpty { problems.append("\(pending.count) were not final when the drill stopped waiting (such as \(pending[0].id))") }
        if recording.unread > 0 { problems.append("\(recording.unread) could not be read back") }
        guard problems.isEmpty, !recording.emails.isEmpty else {
            return Check(
                "no email failed", passed: false,
                problems.isEmpty
                    ? "no email was sent" : "of \(recording.emails.count + recording.unread) emails " + problems.joined(separator: ", "))
        }
        let sent = recording.emails.filter { $0.status == EmailStatus.sent.rawValue }.count
        return Check("no email failed", passed: true, "all \(recording.emails.count) emails are final and none failed (\(sent) sent)")
    }

    /// `1 attempt`, `2 attempts`.
    static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    /// The percentage with one decimal: `99.6 %`.
    static func percent(_ part: Int, of whole: Int) -> String {
        let tenths = whole == 0 ? 0 : Int((Double(part) * 1000 / Double(whole)).rounded())
        return "\(tenths / 10).\(tenths % 10) %"
    }
}

extension Verdict: CustomStringConvertible {
    public var description: String {
        (["Verdict: \(passed ? "PASS" : "FAIL")"] + checks.map { "  \($0.passed ? "PASS" : "FAIL")  \($0.name): \($0.reason)" })
            .joined(separator: "\n")
    }
}

extension Attempt {
    /// When the provider's answer came, to the millisecond Herald records.
    var finishedAt: Date { startedAt.addingTimeInterval(Double(latencyMilliseconds) / 1000) }
}

extension DrillRecording {
    /// When the change at `index` was asked for, and when the next one was (or the stream ended).
    func span(ofChange index: Int) -> (start: Date, end: Date)? {
        guard changes.indices.contains(index) else { return nil }
        let end = changes.indices.contains(index + 1) ? changes[index + 1].at : streamEndedAt
        return (changes[index].at, end)
    }
}
