/// Where an email is in its life. `sent`, `failed` and `cancelled` are final, although a failed
/// email can be queued again by hand.
public enum EmailStatus: String, Codable, Sendable, CaseIterable {
    case queued
    case sending
    case deferred
    case sent
    case failed
    case cancelled

    public var isFinal: Bool {
        switch self {
        case .sent, .failed, .cancelled: true
        case .queued, .sending, .deferred: false
        }
    }
}
