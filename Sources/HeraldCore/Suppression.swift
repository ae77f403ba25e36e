#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An address a tenant's emails are no longer sent to, because a provider refused it for good
/// or because the tenant said so. Sending to it again would hurt the sender's reputation.
public struct Suppression: Sendable, Equatable {
    public enum Source: String, Sendable, Codable {
        /// Added through the API.
        case api
        /// Added when a provider refused the recipient for good while delivering an email.
        case delivery
        /// Added when a provider reported a hard bounce, a complaint or repeated soft bounces.
        case event
    }

    /// In the form ``key(of:)`` gives, so that one address has one entry however it is spelled.
    public var address: String
    public var reason: String
    public var source: Source
    /// The email whose delivery or event added it, for ``Source/delivery`` and ``Source/event``.
    public var emailID: EmailID?
    /// The provider's event that added it, as `provider:event id`, for ``Source/event``.
    public var eventID: String?
    public var createdAt: Date

    public init(address: String, reason: String, source: Source, emailID: EmailID? = nil, eventID: String? = nil, createdAt: Date) {
        self.address = Self.key(of: address)
        self.reason = reason
        self.source = source
        self.emailID = emailID
        self.eventID = eventID
        self.createdAt = createdAt
    }

    /// How an address is compared with the list: in lower case. RFC 5321 lets a server treat
    /// local parts case-sensitively, but mailbox providers do not, and a list that `Bob@` slips
    /// past after `bob@` bounced would not protect anything.
    public static func key(of address: String) -> String { address.lowercased() }
}

/// Where each tenant's suppression list is kept. The dispatcher reads it through
/// ``EmailStore/leaseDueEmails(limit:owner:now:duration:)`` and adds to it through
/// ``DeliveryProgress/suppressing``.
public protocol SuppressionStore: Sendable {
    /// The tenant's suppressions in address order, starting after `cursor`.
    func suppressions(tenant: String, limit: Int, after cursor: String?) async throws -> [Suppression]

    func suppression(of address: String, tenant: String) async throws -> Suppression?

    /// Adds `suppression` unless the address is already on the list; returns the entry that is
    /// on the list afterwards and whether it is the new one.
    func suppress(_ suppression: Suppression, tenant: String) async throws -> (entry: Suppression, created: Bool)

    /// Returns false when the address was not on the list.
    func unsuppress(_ address: String, tenant: String) async throws -> Bool
}

extension EmailMessage {
    /// The message without the recipients whose ``Suppression/key(of:)`` is in `suppressed`.
    public func removingRecipients(_ suppressed: Set<String>) -> EmailMessage {
        guard !suppressed.isEmpty else { return self }
        var message = self
        let kept = { (recipient: EmailAddress) in !suppressed.contains(Suppression.key(of: recipient.address)) }
        message.to = to.filter(kept)
        message.cc = cc.filter(kept)
        message.bcc = bcc.filter(kept)
        return message
    }
}
