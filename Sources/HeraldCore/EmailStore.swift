#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything a Herald process keeps: the queue and history, API keys, idempotency keys and
/// suppression lists. SQLite and PostgreSQL each keep all of it.
public typealias HeraldStore = EmailStore & APIKeyStore & IdempotencyStore & SuppressionStore & ProviderEventStore & WebhookStore
    & RetentionStore

/// Durable storage of emails and their history, and the queue the dispatcher leases from.
///
/// Every write returns only once it is on disk. History (attempts and events) is append-only.
/// Implementations may group concurrent writes into one transaction, which is why the write
/// methods are `async`.
public protocol EmailStore: Sendable {
    /// Stores a new email as `queued`, with its first event.
    func insert(_ email: NewEmail) async throws

    /// Stores all of `emails` in one transaction, or none of them.
    func insert(batch emails: [NewEmail]) async throws

    func email(_ id: EmailID, tenant: String?) async throws -> EmailDetail?

    /// The activity of the minutes from `since` on (at most a day back), every tenant's:
    /// minutes and kinds without any are left out.
    func activity(since: Date) async throws -> [ActivityCount]

    /// The emails that match `filter`, newest first, starting after `cursor`. A filter by
    /// recipient reads the address's emails through an index rather than scanning them all.
    func emails(matching filter: EmailFilter, limit: Int, after cursor: EmailID?) async throws -> [EmailSummary]

    /// Takes up to `limit` emails that are due (queued, deferred past their time, or leased by
    /// an owner whose lease has run out) and leases them to `owner` until `now + duration`.
    /// An attempt left unfinished by an expired lease is recorded as `ambiguous`.
    func leaseDueEmails(limit: Int, owner: String, now: Date, duration: Duration) async throws -> [LeasedEmail]

    /// Records progress on a leased email. Throws ``StoreError/leaseLost`` when the lease has
    /// passed to another owner.
    func record(_ progress: DeliveryProgress) async throws

    /// Puts a failed email back in the queue, keeping its history.
    func retry(_ id: EmailID, tenant: String?, now: Date) async throws

    /// Cancels an email that is queued or deferred.
    func cancel(_ id: EmailID, tenant: String?, now: Date) async throws

    /// Hands every lease of `owner` back but those of `held`, so that their emails are due
    /// again at once.
    func releaseLeases(owner: String, except held: Set<EmailID>, now: Date) async throws

    /// Throws when the store cannot take writes.
    func checkWritable() async throws

    /// Retries every failed email that matches, as ``retry(_:now:)`` does one; returns how many.
    /// Works through them in id order, ``EmailFilter/emailsPerTransaction`` to a transaction,
    /// so that a bulk retry of many emails never holds the writer long enough to stall accepts.
    func retry(matching filter: EmailFilter, now: Date) async throws -> Int

    /// Cancels every queued or deferred email that matches, in transactions of
    /// ``EmailFilter/emailsPerTransaction``; returns how many.
    func cancel(matching filter: EmailFilter, now: Date) async throws -> Int

    /// Queues again every failed email that `selection` takes, as a retry does but counting the
    /// redrive and keeping its reason in the history, in transactions of
    /// ``EmailFilter/emailsPerTransaction``; returns how many. A redriven email that fails
    /// again announces no second `email.failed` webhook.
    func redrive(_ selection: RedriveSelection, now: Date) async throws -> Int

    /// How many emails match `filter` and are in one of `statuses`: what a bulk retry
    /// (``EmailStatus/retryable``) or cancel (``EmailStatus/cancellable``) would move now.
    func count(matching filter: EmailFilter, in statuses: Set<EmailStatus>) async throws -> Int

    /// The provider states kept by ``saveProviderState(_:)``.
    func providerStates() async throws -> [ProviderStateRecord]

    /// Keeps a provider's pause, breaker and throttle across restarts.
    func saveProviderState(_ state: ProviderStateRecord) async throws

    /// Emails each provider took in the UTC day and month that contain `now`, counted as
    /// ``record(_:)`` writes them sent.
    func sendCounts(at now: Date) async throws -> [String: [SendQuota.Period: Int]]

    /// How many emails wait in the queue and since when the longest-waiting one has been due;
    /// read at each metrics scrape, so it must stay cheap however long the history grows.
    func queueStatistics(now: Date) async throws -> QueueStatistics
}

/// A store that several Herald processes share: what one process writes, the others learn.
public protocol SharedEmailStore: EmailStore {
    /// Calls `changed` whenever another process may have queued an email or changed a
    /// provider's state, until the task is cancelled; after a lost connection it listens again
    /// and calls `changed` once for each kind of change, for what it may have missed.
    func watchForChanges(_ changed: @escaping @Sendable (SharedStoreChange) -> Void) async

    /// Takes one send from `provider`'s rate limit, a token bucket that every process sharing
    /// the store draws from. Returns nil when the send may go ahead, or when the next token will
    /// be there.
    func takeSendToken(provider: String, ratePerSecond: Double, burst: Double, now: Date) async throws -> Date?
}

/// What another process sharing the store may have changed.
public enum SharedStoreChange: Sendable, CaseIterable {
    /// It queued emails, which may be due now.
    case newEmails
    /// It saved a provider's state (``EmailStore/saveProviderState(_:)``): a breaker opened or
    /// closed, a pause, a throttle.
    case providerStates
}

/// Which emails a bulk operation applies to: those that match every criterion given.
public struct EmailFilter: Sendable, Equatable {
    /// Nil for every tenant's emails.
    public var tenant: String?
    public var status: EmailStatus?
    public var tag: String?
    /// The provider that sent the email, or that its last attempt went to.
    public var provider: String?
    public var createdAfter: Date?
    public var createdBefore: Date?
    /// An address the email was sent to (To, Cc or Bcc), in any case.
    public var recipient: String?

    /// Emails a bulk retry or cancel moves in one transaction at most. An accept waits for at
    /// most one such transaction on SQLite's writer: 1,000 took about 9 ms, which put the accept
    /// p99 at four times its idle value during a bulk retry of 100,000 (docs/benchmarks.md).
    public static let emailsPerTransaction = 100

    /// Runs a bulk operation page by page: `movePage` moves at most ``emailsPerTransaction``
    /// emails with ids after the one it is given, in id order and in one transaction, and
    /// returns their ids. Ends at the first short page; returns how many were moved.
    public static func moveInPages(_ movePage: (_ after: String) async throws -> [String]) async throws -> Int {
        var moved = 0
        var after = ""
        while true {
            let ids = try await movePage(after)
            moved += ids.count
            guard ids.count == emailsPerTransaction, let last = ids.last else { return moved }
            after = last
        }
    }

    public init(
        tenant: String? = nil, status: EmailStatus? = nil, tag: String? = nil, provider: String? = nil, createdAfter: Date? = nil,
        createdBefore: Date? = nil, recipient: String? = nil
    ) {
        self.tenant = tenant
        self.status = status
        self.tag = tag
        self.provider = provider
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
        self.recipient = recipient
    }
}

public struct NewEmail: Sendable {
    public var id: EmailID
    public var message: EmailMessage
    public var acceptedAt: Date
    /// When to send it, for an email scheduled for later; nil to send now.
    public var sendAt: Date?
    /// The tenant of the API key that sent it; only that tenant's keys see it.
    public var tenant: String
    /// Its content is removed once it is sent (``RetentionRule/metadataOnly``).
    public var metadataOnly: Bool

    public init(
        id: EmailID, message: EmailMessage, acceptedAt: Date, sendAt: Date? = nil, tenant: String = APIKey.defaultTenant,
        metadataOnly: Bool = false
    ) {
        self.id = id
        self.message = message
        self.acceptedAt = acceptedAt
        self.sendAt = sendAt
        self.tenant = tenant
        self.metadataOnly = metadataOnly
    }
}

extension EmailStore {
    /// The email, whichever tenant it belongs to.
    public func email(_ id: EmailID) async throws -> EmailDetail? {
        try await email(id, tenant: nil)
    }

    /// Emails of every tenant.
    public func emails(status: EmailStatus?, limit: Int, after cursor: EmailID?) async throws -> [EmailSummary] {
        try await emails(matching: EmailFilter(status: status), limit: limit, after: cursor)
    }

    public func retry(_ id: EmailID, now: Date) async throws {
        try await retry(id, tenant: nil, now: now)
    }

    public func cancel(_ id: EmailID, now: Date) async throws {
        try await cancel(id, tenant: nil, now: now)
    }
}

/// An email the dispatcher holds until `leaseExpiresAt`.
public struct LeasedEmail: Sendable {
    public var id: EmailID
    public var message: EmailMessage
    public var acceptedAt: Date
    /// When the email last entered the queue: on acceptance, or when it was retried by hand.
    /// Its maximum age counts from here.
    public var queuedAt: Date
    /// Identifies this lease; progress recorded under an older token is refused.
    public var leaseToken: Int64
    /// How many delivery rounds this email has had, this one included.
    public var round: Int
    /// How many provider attempts were made before this round.
    public var attemptsSoFar: Int
    /// The message's recipients that are on its tenant's suppression list, as
    /// ``Suppression/key(of:)`` gives them.
    public var suppressedRecipients: Set<String>
    /// Its content goes when it is recorded sent (``NewEmail/metadataOnly``).
    public var metadataOnly: Bool

    public init(
        id: EmailID, message: EmailMessage, acceptedAt: Date, queuedAt: Date, leaseToken: Int64, round: Int, attemptsSoFar: Int,
        suppressedRecipients: Set<String> = [], metadataOnly: Bool = false
    ) {
        self.id = id
        self.message = message
        self.acceptedAt = acceptedAt
        self.queuedAt = queuedAt
        self.leaseToken = leaseToken
        self.round = round
        self.attemptsSoFar = attemptsSoFar
        self.suppressedRecipients = suppressedRecipients
        self.metadataOnly = metadataOnly
    }
}

/// The queue at one moment, for metrics.
public struct QueueStatistics: Sendable, Equatable {
    /// Emails in each status that is not final (`queued`, `sending`, `deferred`), zeros
    /// included. Final emails are left out: counting them would read the whole history.
    public var emailsByStatus: [EmailStatus: Int]
    /// The earliest time at which an email that is due now became due: a queued or deferred
    /// email, or one whose lease has run out. Nil when nothing is due.
    public var oldestDueAt: Date?

    public init(emailsByStatus: [EmailStatus: Int], oldestDueAt: Date?) {
        self.emailsByStatus = emailsByStatus
        self.oldestDueAt = oldestDueAt
    }
}

/// One step of a delivery round, written in one transaction: the attempt that just finished
/// (if any) and what comes next.
public struct DeliveryProgress: Sendable {
    public enum Next: Sendable, Equatable {
        /// An attempt through `provider` is about to start.
        case attempt(number: Int, provider: String)
        case sent(provider: String, providerMessageID: String?)
        case deferred(until: Date, reason: String)
        /// No provider could take an attempt (all paused, open, throttled or out of quota): the
        /// email is deferred as well, but the round does not count against its attempts.
        case waiting(until: Date, reason: String)
        case failed(reason: String)
        /// Every recipient is suppressed: the email ends without a provider call.
        case suppressed
    }

    public var emailID: EmailID
    public var leaseToken: Int64
    public var finishedAttempt: Attempt?
    public var next: Next
    public var at: Date
    /// Recipients this round leaves out because they are suppressed, noted in the history.
    public var suppressedRecipients: [String]
    /// Recipients a provider refused for good, to add to the tenant's suppression list.
    public var suppressing: [RefusedRecipient]
    /// The email's content goes with a `sent` (``LeasedEmail/metadataOnly``).
    public var metadataOnly: Bool

    public init(
        emailID: EmailID, leaseToken: Int64, finishedAttempt: Attempt?, next: Next, at: Date, suppressedRecipients: [String] = [],
        suppressing: [RefusedRecipient] = [], metadataOnly: Bool = false
    ) {
        self.emailID = emailID
        self.leaseToken = leaseToken
        self.finishedAttempt = finishedAttempt
        self.next = next
        self.at = at
        self.suppressedRecipients = suppressedRecipients
        self.suppressing = suppressing
        self.metadataOnly = metadataOnly
    }
}

public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notFound = "not_found"
        case leaseLost = "lease_lost"
        case invalidTransition = "invalid_transition"
        case unavailable = "store_unavailable"
        /// Stored data that cannot be read back.
        case corrupt = "store_corrupt"
        /// An idempotency key's claim passed to a later request.
        case claimLost = "idempotency_claim_lost"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static let leaseLost = StoreError(.leaseLost, "the lease passed to another owner")
    public static let notFound = StoreError(.notFound, "no email has this id")
    public static let contentRemoved = StoreError(
        .invalidTransition, "retention removed the email's content: there is nothing left to send")
    public static let claimLost = StoreError(
        .claimLost, "the idempotency key was claimed again by a later request after this one took over a minute")

    public var description: String { "\(code.rawValue): \(message)" }
}
