/// Where an email is in its life. `sent`, `failed`, `cancelled` and `suppressed` are final,
/// although a failed email can be queued again by hand.
public enum EmailStatus: String, Codable, Sendable, CaseIterable {
    case queued
    case sending
    case deferred
    case sent
    case failed
    case cancelled
    /// Every recipient is on the tenant's suppression list: nothing was sent.
    case suppressed

    public var isFinal: Bool {
        switch self {
        case .sent, .failed, .cancelled, .suppressed: true
        case .queued, .sending, .deferred: false
        }
    }
}

extension EmailStatus {
    /// What `retry` moves back to the queue: a failed email, or one whose recipients were all
    /// suppressed (after the suppressions are lifted).
    public static let retryable: Set<EmailStatus> = [.failed, .suppressed]
    /// What `cancel` stops: an email that waits for its turn.
    public static let cancellable: Set<EmailStatus> = [.queued, .deferred]
}
