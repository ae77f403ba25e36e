#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a client asked Herald to send, after validation. It is stored as it is and handed to
/// every provider attempt, so that each attempt builds a fresh request for its provider.
public struct EmailMessage: Codable, Sendable, Equatable {
    public var from: EmailAddress
    public var to: [EmailAddress]
    public var cc: [EmailAddress]
    public var bcc: [EmailAddress]
    public var replyTo: [EmailAddress]
    public var subject: String
    public var text: String?
    public var html: String?
    public var headers: [String: String]
    public var attachments: [Attachment]
    public var tags: [String]
    public var metadata: [String: String]
    /// Settings for particular providers, keyed by provider name or type, such as
    /// `["ses": ["configuration_set": "transactional"]]`. Each attempt reads the options of the
    /// provider it goes to, so they survive failover.
    public var providerOptions: [String: [String: String]]

    public init(
        from: EmailAddress,
        to: [EmailAddress],
        cc: [EmailAddress] = [],
        bcc: [EmailAddress] = [],
        replyTo: [EmailAddress] = [],
        subject: String,
        text: String? = nil,
        html: String? = nil,
        headers: [String: String] = [:],
        attachments: [Attachment] = [],
        tags: [String] = [],
        metadata: [String: String] = [:],
        providerOptions: [String: [String: String]] = [:]
    ) {
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.replyTo = replyTo
        self.subject = subject
        self.text = text
        self.html = html
        self.headers = headers
        self.attachments = attachments
        self.tags = tags
        self.metadata = metadata
        self.providerOptions = providerOptions
    }

    /// Whether a byte may not stand in a header field: a C0 control character but tab, or DEL.
    /// NUL ends strings in C and the rest mean nothing in a header; CR and LF are refused
    /// before this, as line breaks.
    public static func isForbiddenInHeader(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F
    }

    /// Headers that Herald writes itself; clients may not set them.
    public static let reservedHeaderNames: Set<String> = [
        "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "x-herald-id", "sender", "return-path",
    ]

    /// Every envelope recipient: To, Cc and Bcc.
    public var recipients: [EmailAddress] { to + cc + bcc }

    /// The recipients' addresses as an email is found by them: in lower case, each once.
    public var recipientKeys: [String] {
        var seen: Set<String> = []
        return recipients.map { Self.recipientKey(of: $0.address) }.filter { seen.insert($0).inserted }
    }

    /// The message as retention keeps it once its content is removed: the addresses (which
    /// routing, suppression and the search by recipient need), tags and metadata, and nothing
    /// else: no subject, bodies, headers, attachments or provider options.
    public func removingContent() -> EmailMessage {
        var kept = self
        kept.subject = ""
        (kept.text, kept.html) = (nil, nil)
        kept.headers = [:]
        kept.attachments = []
        kept.providerOptions = [:]
        return kept
    }

    /// How an address is looked up among recipients: in lower case, as mailbox providers
    /// compare them (``Suppression/key(of:)`` does the same).
    public static func recipientKey(of address: String) -> String { address.lowercased() }

    /// The options for `provider`: those given for its type, overridden by those given for its name.
    public func options(for provider: some EmailProvider) -> [String: String] {
        (providerOptions[provider.kind] ?? [:]).merging(providerOptions[provider.name] ?? [:]) { $1 }
    }

    enum CodingKeys: String, CodingKey {
        case from, to, cc, bcc, subject, text, html, headers, attachments, tags, metadata
        case replyTo = "reply_to"
        case providerOptions = "provider_options"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            from: try container.decode(EmailAddress.self, forKey: .from),
            to: try container.decode([EmailAddress].self, forKey: .to),
            cc: try container.decode([EmailAddress].self, forKey: .cc),
            bcc: try container.decode([EmailAddress].self, forKey: .bcc),
            replyTo: try container.decode([EmailAddress].self, forKey: .replyTo),
            subject: try container.decode(String.self, forKey: .subject),
            text: try container.decodeIfPresent(String.self, forKey: .text),
            html: try container.decodeIfPresent(String.self, forKey: .html),
            headers: try container.decode([String: String].self, forKey: .headers),
            attachments: try container.decode([Attachment].self, forKey: .attachments),
            tags: try container.decode([String].self, forKey: .tags),
            metadata: try container.decode([String: String].self, forKey: .metadata),
            // Emails stored before provider options existed have none.
            providerOptions: try container.decodeIfPresent([String: [String: String]].self, forKey: .providerOptions) ?? [:]
        )
    }
}

public struct Attachment: Codable, Sendable, Equatable {
    public var filename: String
    public var contentType: String
    public var content: Data
    /// Set for inline parts that the HTML refers to as `cid:`.
    public var contentID: String?

    public init(filename: String, contentType: String, content: Data, contentID: String? = nil) {
        self.filename = filename
        self.contentType = contentType
        self.content = content
        self.contentID = contentID
    }

    enum CodingKeys: String, CodingKey {
        case filename, content
        case contentType = "content_type"
        case contentID = "content_id"
    }
}
