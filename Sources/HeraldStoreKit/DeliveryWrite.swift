import HeraldCore

// HeraldStoreKit holds what both stores write the same way: the plan of rows a delivery round's
// progress turns into, which each store only carries out in its own SQL.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything one delivery round's progress writes, decided once for both stores: the
/// email's new state, its history, the suppressions, counts and webhook it adds.
///
/// Every part is written only while the email is still `sending` under ``leaseToken``; when
/// the lease has passed on, nothing is written and the caller learns ``StoreError/leaseLost``.
public struct DeliveryWrite: Sendable, Equatable {
    /// What becomes of the email's row.
    public enum EmailChange: Sendable, Equatable {
        /// An attempt is about to start: recorded as pending, so that a lease that runs out
        /// mid-call leaves an interrupted (ambiguous) attempt behind.
        case attemptStarting(number: Int, provider: String)
        /// The round is over and the lease given up: the email is `status`, due again at `dueAt`
        /// (nil for final states); `provider` and `providerMessageID` replace the row's only
        /// when set. `roundsChange` of -1 takes back a round that made no attempt.
        case roundEnded(
            status: EmailStatus, dueAt: Date?, provider: String?, providerMessageID: String?, reason: String?, roundsChange: Int)
    }

    public let emailID: EmailID
    public let leaseToken: Int64
    public let at: Date
    public let change: EmailChange
    /// The attempt that just ended, for the `attempts` table.
    public let finishedAttempt: Attempt?
    /// Appended to the email's history in this order.
    public let events: [EmailEvent]
    /// Recipients a provider refused for good, added to the tenant's suppression list.
    public let suppressions: [Suppression]
    /// The provider a send is counted for (its quota periods and the minute's `sent`).
    public let sentThrough: String?
    /// The minute's activity this round adds to, besides the send: `failed`.
    public let activity: ActivityKind?
    /// The webhook this outcome announces to the tenant's endpoints that want it; a store
    /// leaves out `email.failed` for an email the redrive policy queued again, whose first
    /// failure was announced already.
    public let webhook: WebhookTrigger?
    /// For an email that fails, the class of the failure that ended it, which decides whether
    /// the redrive policy may queue it again: the last attempt's, or transient when the round
    /// could try no provider at all (every one paused, open or out of quota).
    public let failureClass: ErrorClass?
    /// The email's content goes in the same transaction: it was sent, and its tenant keeps no
    /// body past delivery (``RetentionRule/metadataOnly``).
    public let removesContent: Bool

    public init(_ progress: DeliveryProgress) {
        emailID = progress.emailID
        leaseToken = progress.leaseToken
        at = progress.at
        finishedAttempt = progress.finishedAttempt
        suppressions = progress.suppressing.map { refused in
            Suppression(
                address: refused.address, reason: "\(refused.failure.reason): \(refused.failure.message)", source: .delivery,
                emailID: progress.emailID, createdAt: progress.at)
        }

        var events: [EmailEvent] = []
        if !progress.suppressedRecipients.isEmpty {
            events.append(EmailEvent(kind: .suppressed, at: progress.at, detail: progress.suppressedRecipients.joined(separator: ", ")))
        }
        if let attempt = progress.finishedAttempt, attempt.outcome == .failed {
            events.append(
                EmailEvent(
                    kind: .attemptFailed, at: progress.at, attempt: attempt.number, provider: attempt.provider,
                    detail: [attempt.errorClass?.rawValue, attempt.errorCode].compactMap { $0 }.joined(separator: ":")))
        }

        var sentThrough: String?
        var activity: ActivityKind?
        var webhook: WebhookTrigger?
        var failureClass: ErrorClass?
        var removesContent = false
        switch progress.next {
        case .attempt(let number, let provider):
            change = .attemptStarting(number: number, provider: provider)
            events.append(EmailEvent(kind: .attemptStarted, at: progress.at, attempt: number, provider: provider))
        case .sent(let provider, let providerMessageID):
            change = .roundEnded(
                status: .sent, dueAt: nil, provider: provider, providerMessageID: providerMessageID, reason: nil, roundsChange: 0)
            events.append(EmailEvent(kind: .sent, at: progress.at, provider: provider))
            sentThrough = provider
            removesContent = progress.metadataOnly
            webhook = WebhookTrigger(
                type: .sent, emailID: progress.emailID, at: progress.at, provider: provider, providerMessageID: providerMessageID)
        case .deferred(let until, let reason):
            change = .roundEnded(status: .deferred, dueAt: until, provider: nil, providerMessageID: nil, reason: reason, roundsChange: 0)
            events.append(EmailEvent(kind: .deferred, at: progress.at, detail: reason))
        case .waiting(let until, let reason):
            change = .roundEnded(status: .deferred, dueAt: until, provider: nil, providerMessageID: nil, reason: reason, roundsChange: -1)
            events.append(EmailEvent(kind: .deferred, at: progress.at, detail: reason))
        case .failed(let reason):
            change = .roundEnded(status: .failed, dueAt: nil, provider: nil, providerMessageID: nil, reason: reason, roundsChange: 0)
            events.append(EmailEvent(kind: .failed, at: progress.at, detail: reason))
            activity = .failed
            failureClass = progress.finishedAttempt?.errorClass ?? .transient
            webhook = WebhookTrigger(type: .failed, emailID: progress.emailID, at: progress.at, reason: reason)
        case .suppressed:
            let reason = "every recipient is suppressed"
            change = .roundEnded(status: .suppressed, dueAt: nil, provider: nil, providerMessageID: nil, reason: reason, roundsChange: 0)
            webhook = WebhookTrigger(type: .suppressed, emailID: progress.emailID, at: progress.at, reason: reason)
        }
        self.events = events
        self.sentThrough = sentThrough
        self.activity = activity
        self.webhook = webhook
        self.failureClass = failureClass
        self.removesContent = removesContent
    }
}
