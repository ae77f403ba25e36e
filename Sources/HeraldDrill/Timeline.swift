import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A drill second by second: the attempts that started in each second, per provider; how many
/// of them failed; each provider's state in that second's sample; and the changes made.
public struct Timeline: Sendable, Equatable {
    public struct Second: Sendable, Equatable {
        /// Whole seconds from the start of the stream.
        public var offset: Int
        /// Attempts started in this second, per provider, in the timeline's provider order.
        public var attempts: [Int]
        public var failed: Int
        /// Each provider's state in the last sample taken in this second; nil without one.
        public var states: [String?]
        public var changes: [String]

        public init(offset: Int, attempts: [Int], failed: Int, states: [String?], changes: [String]) {
            self.offset = offset
            self.attempts = attempts
            self.failed = failed
            self.states = states
            self.changes = changes
        }
    }

    public var providers: [String]
    public var seconds: [Second]

    /// `providers` gives the column order; providers met only in attempts follow it.
    public init(providers listed: [String], recording: DrillRecording) {
        let attempts = recording.attempts
        var providers = listed
        for attempt in attempts where !providers.contains(attempt.provider) { providers.append(attempt.provider) }
        func second(_ date: Date) -> Int { Int(date.timeIntervalSince(recording.startedAt).rounded(.down)) }

        let times = attempts.map(\.startedAt) + recording.samples.map(\.at) + recording.changes.map(\.at)
        guard let first = times.map(second).min(), let last = times.map(second).max() else {
            self.init(providers: providers, seconds: [])
            return
        }
        var seconds = (first...last).map {
            Second(
                offset: $0, attempts: Array(repeating: 0, count: providers.count), failed: 0,
                states: Array(repeating: nil, count: providers.count), changes: [])
        }
        for attempt in attempts {
            let index = second(attempt.startedAt) - first
            seconds[index].attempts[providers.firstIndex(of: attempt.provider)!] += 1
            if attempt.outcome == .failed { seconds[index].failed += 1 }
        }
        for sample in recording.samples.sorted(by: { $0.at < $1.at }) {
            let index = second(sample.at) - first
            for snapshot in sample.providers {
                if let column = providers.firstIndex(of: snapshot.name) { seconds[index].states[column] = snapshot.state }
            }
        }
        for change in recording.changes {
            seconds[second(change.at) - first].changes.append(change.label)
        }
        self.init(providers: providers, seconds: seconds)
    }

    public init(providers: [String], seconds: [Second]) {
        self.providers = providers
        self.seconds = seconds
    }
}

extension Timeline: CustomStringConvertible {
    /// A table with one line a second, such as
    ///
    ///     t      | attempts:   primary  secondary | failed | state: primary    secondary | changes
    ///     +1 s   |                  20         40 |     20 |        open       healthy   | outage: primary fails every call
    public var description: String {
        let width = providers.map { max($0.count, 9) }
        let attemptsHeader = zip(providers, width).map { pad($0, to: $1, left: true) }.joined(separator: "  ")
        let statesHeader = zip(providers, width).map { pad($0, to: $1) }.joined(separator: "  ")
        let header = "t      | attempts: \(attemptsHeader) | failed | state: \(statesHeader) | changes"
        let lines = seconds.map { second in
            let attempts = zip(second.attempts, width).map { pad(String($0), to: $1, left: true) }.joined(separator: "  ")
            let states = zip(second.states, width).map { pad($0 ?? "-", to: $1) }.joined(separator: "  ")
            let offset = pad((second.offset < 0 ? "" : "+") + "\(second.offset) s", to: 6)
            return "\(offset) |           \(attempts) | \(pad(String(second.failed), to: 6, left: true)) |        \(states) | "
                + second.changes.joined(separator: "; ")
        }
        return ([header] + lines).map { $0.trimmingTrailingSpaces }.joined(separator: "\n")
    }

    private func pad(_ text: String, to width: Int, left: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return left ? padding + text : text + padding
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
