import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A due email's row as a lease reads it, before the lease changes it: both stores read these
/// columns and turn them into a ``LeasedEmail`` here, the same way.
public struct DueEmail: Sendable {
    /// An attempt recorded as started and never finished: the lease it ran under ran out.
    public struct PendingAttempt: Sendable, Equatable {
        public let number: Int
        public let provider: String?
        public let startedAt: Int64?

        public init(number: Int, provider: String?, startedAt: Int64?) {
            (self.number, self.provider, self.startedAt) = (number, provider, startedAt)
        }
    }

    public let id: String
    public let tenant: String
    public let content: StoredContent
    public let createdAt: Int64
    public let queuedAt: Int64
    /// The row's rounds and lease token, before this lease.
    public let rounds: Int
    public let leaseToken: Int64
    public let attempts: Int
    public let pendingAttempt: PendingAttempt?
    public let metadataOnly: Bool

    public init(
        id: String, tenant: String, content: StoredContent, createdAt: Int64, queuedAt: Int64, rounds: Int, leaseToken: Int64,
        attempts: Int, pendingAttempt: PendingAttempt?, metadataOnly: Bool = false
    ) {
        self.id = id
        self.tenant = tenant
        self.content = content
        self.createdAt = createdAt
        self.queuedAt = queuedAt
        self.rounds = rounds
        self.leaseToken = leaseToken
        self.attempts = attempts
        self.pendingAttempt = pendingAttempt
        self.metadataOnly = metadataOnly
    }

    /// The emails of `rows` as a lease hands them out: each message decoded once, one round and
    /// one lease token past its row's, with those of its recipients that are on its tenant's
    /// suppression list. `suppressed` looks those up: given each tenant's recipients (as
    /// ``Suppression/key(of:)`` gives them), it returns those on the tenant's list. A row whose
    /// id is not an email id is left out.
    public static func leased(
        _ rows: [DueEmail], suppressed: (_ recipientsByTenant: [String: Set<String>]) async throws -> [String: Set<String>]
    ) async throws -> [LeasedEmail] {
        var decoded: [(row: DueEmail, id: EmailID, message: EmailMessage, recipients: Set<String>)] = []
        var recipientsByTenant: [String: Set<String>] = [:]
        for row in rows {
            guard let id = EmailID(row.id) else { continue }
            let message = try row.content.message()
            let recipients = Set(message.recipients.map { Suppression.key(of: $0.address) })
            decoded.append((row, id, message, recipients))
            recipientsByTenant[row.tenant, default: []].formUnion(recipients)
        }
        let onLists = recipientsByTenant.isEmpty ? [:] : try await suppressed(recipientsByTenant)
        return decoded.map { row, id, message, recipients in
            LeasedEmail(
                id: id, message: message, acceptedAt: Date(milliseconds: row.createdAt), queuedAt: Date(milliseconds: row.queuedAt),
                leaseToken: row.leaseToken + 1, round: row.rounds + 1, attemptsSoFar: row.attempts,
                suppressedRecipients: recipients.intersection(onLists[row.tenant, default: []]), metadataOnly: row.metadataOnly)
        }
    }
}

/// What a lease writes for an attempt that a lease running out cut short: the process stopped
/// or hung mid-call, so the provider may or may not have the email. Times are the stores'
/// milliseconds since 1970, written as they were read.
public struct InterruptedAttempt: Sendable, Equatable {
    public static let errorClass = ErrorClass.ambiguous
    public static let code = "interrupted"
    public static let message = "the attempt was interrupted before its outcome was recorded"
    /// The provider of an attempt whose provider was not recorded.
    public static let unknownProvider = "unknown"

    public let number: Int
    public let provider: String
    public let startedAt: Int64
    public let latencyMilliseconds: Int64

    /// `pending`, found by a lease at `at`; an attempt without a start time started then.
    public init(_ pending: DueEmail.PendingAttempt, at: Int64) {
        number = pending.number
        provider = pending.provider ?? Self.unknownProvider
        startedAt = pending.startedAt ?? at
        let (latency, overflowed) = at.subtractingReportingOverflow(startedAt)
        latencyMilliseconds = overflowed ? 0 : latency
    }
}
