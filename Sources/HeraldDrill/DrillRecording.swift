import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything a drill saw: the changes it made, the providers every second, and each email's
/// attempts as Herald recorded them. The timeline and the verdict are computed from it alone.
///
/// Times of changes and samples are the drill's clock; attempt times are the server's. The two
/// are compared directly, so run the drill on Herald's host or on one whose clock is in sync.
public struct DrillRecording: Sendable, Equatable {
    /// A change to a sandbox provider.
    public struct Change: Sendable, Equatable {
        public var provider: String
        public var label: String
        public var behavior: SandboxBehavior
        /// When the drill asked for it; Herald applied it before answering, moments later.
        /// Checks take this as the change's time, which can only make them stricter.
        public var at: Date

        public init(provider: String, label: String, behavior: SandboxBehavior, at: Date) {
            self.provider = provider
            self.label = label
            self.behavior = behavior
            self.at = at
        }
    }

    /// One reading of `GET /v1/providers`, at the moment its answer arrived.
    public struct Sample: Sendable, Equatable {
        public var at: Date
        public var providers: [ProviderSnapshot]

        public init(at: Date, providers: [ProviderSnapshot]) {
            self.at = at
            self.providers = providers
        }
    }

    /// When the first email was sent: second 0 of the timeline.
    public var startedAt: Date
    public var streamEndedAt: Date
    /// In the order they were made; the last one makes the primary healthy again.
    public var changes: [Change]
    public var samples: [Sample]
    public var emails: [EmailRecord]
    /// Emails the stream tried to send.
    public var sendsTried: Int
    /// Why sends were refused or failed, one entry per send.
    public var sendFailures: [String]
    /// Accepted emails that could not be read back.
    public var unread: Int

    public init(
        startedAt: Date, streamEndedAt: Date, changes: [Change], samples: [Sample], emails: [EmailRecord], sendsTried: Int,
        sendFailures: [String] = [], unread: Int = 0
    ) {
        self.startedAt = startedAt
        self.streamEndedAt = streamEndedAt
        self.changes = changes
        self.samples = samples
        self.emails = emails
        self.sendsTried = sendsTried
        self.sendFailures = sendFailures
        self.unread = unread
    }

    /// Every attempt of every email, in the order they started.
    public var attempts: [Attempt] { emails.flatMap(\.attempts).sorted { $0.startedAt < $1.startedAt } }

    /// `+3.52 s`: a time as an offset from the start of the stream.
    func offset(_ date: Date) -> String {
        let seconds = date.timeIntervalSince(startedAt)
        return (seconds < 0 ? "" : "+") + seconds.secondsText
    }
}

extension Double {
    /// Seconds to a hundredth: `3.52 s`, `3 s`.
    var secondsText: String {
        let hundredths = Int((self * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let whole = abs(hundredths) / 100
        let fraction = abs(hundredths) % 100
        guard fraction != 0 else { return "\(sign)\(whole) s" }
        return "\(sign)\(whole).\(fraction < 10 ? "0" : "")\(fraction) s"
    }
}
