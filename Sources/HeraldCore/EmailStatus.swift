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
