import HeraldCore

/// What a drill reads back of one email it sent: `GET /v1/emails/{id}` without the content.
public struct EmailRecord: Sendable, Equatable, Decodable {
    public var id: String
    /// Kept as text so that a status this drill does not know counts as not final rather than
    /// failing the whole read.
    public var status: String
    public var attempts: [Attempt]

    public init(id: String, status: EmailStatus, attempts: [Attempt]) {
        self.id = id
        self.status = status.rawValue
        self.attempts = attempts
    }

    public var isFinal: Bool { EmailStatus(rawValue: status)?.isFinal ?? false }
}
