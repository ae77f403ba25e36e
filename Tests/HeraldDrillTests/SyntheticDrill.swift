import Foundation
import HeraldCore
import HeraldDrill

/// A made-up drill recording: streams of emails routed as a test says, with changes and
/// samples placed by hand. Times are seconds from the start of the stream.
struct SyntheticDrill {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// What happens to an email: the providers it tries in order, and whether each call fails
    /// (transient) or sends.
    typealias Route = [(provider: String, fails: Bool)]

    var plan: DrillPlan
    var changes: [DrillRecording.Change] = []
    var samples: [DrillRecording.Sample] = []
    var emails: [EmailRecord] = []
    var sendFailures: [String] = []

    init(_ scenario: Scenario, thresholds: DrillPlan.Thresholds = .init(openSeconds: 3, halfOpenProbes: 1)) {
        plan = DrillPlan(
            scenario: scenario, primary: "primary", secondary: "secondary", providers: ["primary", "secondary"], rate: 40,
            streamDuration: .seconds(10), steps: [], thresholds: thresholds
        )
    }

    static func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    mutating func change(_ label: String, at seconds: Double, to behavior: SandboxBehavior = .init()) {
        changes.append(.init(provider: plan.primary, label: label, behavior: behavior, at: Self.at(seconds)))
    }

    /// A sample at `seconds` showing the primary in `state`; `openUntil` makes its breaker open.
    mutating func sample(at seconds: Double, primary state: String, openUntil: Double? = nil) {
        let primary = ProviderSnapshot(
            name: "primary", priority: 1, state: state, breakerState: openUntil == nil ? "closed" : "open",
            openUntil: openUntil.map(Self.at)
        )
        samples.append(.init(at: Self.at(seconds), providers: [primary, ProviderSnapshot(name: "secondary", priority: 2)]))
    }

    /// Emails 40 a second from `from` until before `to`, routed by `route`.
    mutating func stream(from: Double, to: Double, latency: Int = 0, _ route: Route) {
        for index in 0..<Int(((to - from) * 40).rounded()) {
            email(at: from + Double(index) / 40, latency: latency, route)
        }
    }

    /// One email whose attempts each take `latency` milliseconds, one after the other.
    mutating func email(at seconds: Double, latency: Int = 0, _ tries: Route) {
        let attempts = tries.enumerated().map { index, attempt in
            Attempt(
                number: index + 1, provider: attempt.provider, startedAt: Self.at(seconds + Double(index * latency) / 1000),
                latencyMilliseconds: latency, outcome: attempt.fails ? .failed : .sent, errorClass: attempt.fails ? .transient : nil
            )
        }
        let status: EmailStatus = attempts.last?.outcome == .sent ? .sent : .failed
        emails.append(EmailRecord(id: "email-\(emails.count)", status: status, attempts: attempts))
    }

    var recording: DrillRecording {
        DrillRecording(
            startedAt: Self.start, streamEndedAt: Self.at(plan.streamDuration.timeInterval), changes: changes, samples: samples,
            emails: emails, sendsTried: emails.count + sendFailures.count, sendFailures: sendFailures
        )
    }

    var verdict: Verdict { Verdict(plan: plan, recording: recording) }

    /// The check with this name, for tests that look at one.
    func check(_ name: String) -> Verdict.Check? { verdict.checks.first { $0.name == name } }
}

/// Routes that the tests combine.
enum Routes {
    static let primary: SyntheticDrill.Route = [("primary", false)]
    static let secondary: SyntheticDrill.Route = [("secondary", false)]
    static let failOver: SyntheticDrill.Route = [("primary", true), ("secondary", false)]
}
