#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A service that can deliver an email: Amazon SES, an SMTP relay, a sandbox.
///
/// An adapter builds its request from the ``Delivery`` afresh on every call, so an email can
/// move between providers on failover without carrying one provider's details to another.
public protocol EmailProvider: Sendable {
    /// The name an operator gave this provider in the configuration.
    var name: String { get }
    /// The adapter's kind, such as `sandbox` or `file`.
    var kind: String { get }
    /// Delivers the email or throws a ``ProviderFailure`` that says why not. Any other error
    /// is treated as a transient failure.
    ///
    /// Returns or throws by the delivery's ``Delivery/deadline``: the adapter bounds its own
    /// waits with it, since only the adapter knows whether a call cut short may have delivered
    /// the email (`ambiguous`) or surely did not (a session that never sent the message).
    func send(_ delivery: Delivery) async throws -> ProviderReceipt

    /// The keys this provider reads from an email's `provider_options`; others are refused
    /// when the email is accepted.
    var supportedOptions: Set<String> { get }

    /// Checks credentials and reachability without sending mail, where the adapter knows how;
    /// throws a ``ProviderFailure`` that says what is wrong, and returns false when it checked
    /// nothing.
    func verify() async throws -> Bool

    /// The limits the provider reports about the account, read now; nil when it reports none.
    func reportedLimits() async throws -> ReportedLimits?
}

extension EmailProvider {
    public var supportedOptions: Set<String> { [] }

    /// Adapters without a check of their own report that nothing was checked.
    public func verify() async throws -> Bool { false }

    public func reportedLimits() async throws -> ReportedLimits? { nil }
}

/// One attempt to deliver one email through one provider.
public struct Delivery: Sendable {
    public var emailID: EmailID
    public var attempt: Int
    public var message: EmailMessage
    public var acceptedAt: Date
    /// When the call must have returned: the provider's `timeout_seconds` after it started.
    public var deadline: ContinuousClock.Instant

    public init(
        emailID: EmailID, attempt: Int, message: EmailMessage, acceptedAt: Date,
        deadline: ContinuousClock.Instant = .now.advanced(by: .seconds(30))
    ) {
        self.emailID = emailID
        self.attempt = attempt
        self.message = message
        self.acceptedAt = acceptedAt
        self.deadline = deadline
    }

}

/// What a provider says when it takes an email.
public struct ProviderReceipt: Sendable, Equatable {
    /// The provider's own identifier of the message, where it gives one.
    public var providerMessageID: String?
    /// Recipients the provider refused for good while it took the email for the others, as an
    /// SMTP server does when one RCPT gets a 550 and the rest a 250. Trying them again elsewhere
    /// would send the others a second copy, so the email counts as sent and these are noted.
    public var refusedRecipients: [RefusedRecipient]

    public init(providerMessageID: String?, refusedRecipients: [RefusedRecipient] = []) {
        self.providerMessageID = providerMessageID
        self.refusedRecipients = refusedRecipients
    }
}

/// One recipient a provider would not take, and why.
public struct RefusedRecipient: Sendable, Equatable {
    public var address: String
    public var failure: ProviderFailure

    public init(address: String, failure: ProviderFailure) {
        self.address = address
        self.failure = failure
    }
}
