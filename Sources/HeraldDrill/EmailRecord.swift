import HeraldClient
import HeraldCore

/// What a drill reads back of one email it sent: `GET /v1/emails/{id}` without the content.
public struct EmailRecord: Sendable, Equatable {
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

    /// The email as the generated client reads it.
    init(_ email: Components.Schemas.Email) {
        id = email.id
        status = email.status.rawValue
        attempts = email.attempts.map { attempt in
            Attempt(
                number: attempt.number, provider: attempt.provider, startedAt: attempt.startedAt,
                latencyMilliseconds: attempt.latencyMs, outcome: attempt.outcome == .sent ? .sent : .failed,
                errorClass: attempt.errorClass.flatMap { ErrorClass(rawValue: $0.rawValue) }, errorCode: attempt.errorCode,
                message: attempt.message, routing: attempt.routing)
        }
    }

    public var isFinal: Bool { EmailStatus(rawValue: status)?.isFinal ?? false }
}
