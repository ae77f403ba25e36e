#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How long emails are kept: their content, and the emails themselves with their history.
/// Both count from acceptance, and neither touches an email that has not reached a final
/// state (sent, failed, cancelled, suppressed), however old.
public struct RetentionRule: Sendable, Equatable {
    /// After this long, an email's subject, bodies, headers, attachments and provider options
    /// are removed; its addresses, tags, metadata and whole history stay. Nil keeps them as long
    /// as the email.
    public var contentAge: Duration?
    /// After this long, the email is removed with its history. Nil keeps it.
    public var emailAge: Duration?
    /// The content goes as soon as a provider took the email, in the transaction that records
    /// it sent: no body is kept past delivery. A failed email keeps its content for a retry.
    public var metadataOnly: Bool

    public init(contentAge: Duration? = nil, emailAge: Duration? = nil, metadataOnly: Bool = false) {
        self.contentAge = contentAge
        self.emailAge = emailAge
        self.metadataOnly = metadataOnly
    }

    /// Whether the rule removes anything at all.
    public var removesAnything: Bool { contentAge != nil || emailAge != nil }
}

/// The emails one retention rule covers.
public enum RetentionScope: Sendable, Hashable {
    /// One tenant's.
    case tenant(String)
    /// Every tenant's but those named, which have rules of their own.
    case allTenants(but: Set<String>)
}

/// The retention rule of every tenant: one of its own, or the default.
public struct RetentionPolicy: Sendable, Equatable {
    public var defaultRule = RetentionRule()
    public var tenantRules: [String: RetentionRule] = [:]
    /// How often the purge looks for emails to remove.
    public var interval: Duration = .seconds(60)
    /// A directory where each email is archived before it is removed; nil removes it outright.
    public var archiveDirectory: String?

    public init() {}

    /// The rule of `tenant`'s emails.
    public func rule(of tenant: String) -> RetentionRule {
        tenantRules[tenant] ?? defaultRule
    }

    /// Each scope with its rule, the tenants with rules of their own first, leaving out rules
    /// that remove nothing.
    public var scopes: [(scope: RetentionScope, rule: RetentionRule)] {
        let tenants = tenantRules.keys.sorted().map { (scope: RetentionScope.tenant($0), rule: tenantRules[$0]!) }
        let others = (scope: RetentionScope.allTenants(but: Set(tenantRules.keys)), rule: defaultRule)
        return (tenants + [others]).filter(\.rule.removesAnything)
    }
}

/// Removal of old emails and their content, as ``RetentionPolicy`` asks. Each call is a short
/// transaction of its own, so that a purge of many emails lets accepts through in between.
public protocol RetentionStore: Sendable {
    /// Up to `limit` emails of `scope` in a final state with ids from `from` (inclusive, nil
    /// for the first) up to `before` (exclusive), in id order; with `withContent`, only those
    /// whose content is still kept.
    func finishedEmails(in scope: RetentionScope, from: EmailID?, before: EmailID, withContent: Bool, limit: Int) async throws
        -> [EmailID]

    /// The smallest id of an email of `scope` before `before` that has not reached a final
    /// state, if any: it may still, so a later look must start no later than there.
    func oldestUnfinishedEmail(in scope: RetentionScope, before: EmailID) async throws -> EmailID?

    /// Removes the subject, bodies, headers, attachments and provider options of those of `ids`
    /// that are in a final state, and notes when; returns how many.
    func removeContent(of ids: [EmailID], now: Date) async throws -> Int

    /// Removes those of `ids` that are in a final state, with their whole history (attempts,
    /// events, provider events, recipient states, webhook messages); returns how many.
    func removeEmails(_ ids: [EmailID]) async throws -> Int

    /// Removes up to `limit` webhook messages of `scope` made before `before`, with their
    /// deliveries and attempts, leaving those still to be delivered; returns how many.
    func removeWebhookMessages(in scope: RetentionScope, before: Date, limit: Int) async throws -> Int

    /// Gives the space of removed rows back to the file system, a little at a time: SQLite's
    /// incremental vacuum. PostgreSQL's autovacuum makes the space reusable by itself.
    func reclaimSpace() async throws
}
