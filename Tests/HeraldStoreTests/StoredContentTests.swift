import Foundation
import HeraldCore
import HeraldStoreKit
import Testing

@Suite("Stored content")
struct StoredContentTests {
    /// Every field set, in several scripts, with the values a naive format would trip on.
    static let full = EmailMessage(
        from: EmailAddress(displayName: "Zoë \"Z\" Ünal, Ph.D.", address: "zoë@bücher.example"),
        to: [EmailAddress(address: "bob@example.com"), EmailAddress(displayName: "Алиса", address: "alice@example.ru")],
        cc: [EmailAddress(displayName: "", address: "carol@example.net")],
        bcc: [EmailAddress(address: "dave@例え.jp")],
        replyTo: [EmailAddress(displayName: "Support", address: "help@example.org")],
        subject: "Grüße – 你好 – 🎉",
        text: "Line one\r\n.line two\n",
        html: "<p>Hi</p>",
        headers: ["X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.org>", "X-Empty": ""],
        attachments: [
            Attachment(filename: "report.pdf", contentType: "application/pdf", content: Data((0...255).map(UInt8.init))),
            Attachment(filename: "logo.png", contentType: "image/png", content: Data(), contentID: "logo@herald"),
        ],
        tags: ["welcome", "ünïcode", ""],
        metadata: ["user_id": "42", "empty": ""],
        providerOptions: ["ses": ["configuration_set": "transactional"], "postmark": ["message_stream": "outbound"]]
    )

    @Test(arguments: [Self.full, .init(from: EmailAddress(address: "a@b.example"), to: [], subject: "")])
    func `a message comes back field for field`(message: EmailMessage) throws {
        let content = StoredContent(message)
        #expect(content.text == message.text)
        #expect(content.html == message.html)
        #expect(try content.message() == message)
    }

    @Test func `one message always encodes to the same bytes`() {
        let reordered = EmailMessage(
            from: Self.full.from, to: Self.full.to, cc: Self.full.cc, bcc: Self.full.bcc, replyTo: Self.full.replyTo,
            subject: Self.full.subject, text: Self.full.text, html: Self.full.html,
            headers: Dictionary(Self.full.headers.reversed(), uniquingKeysWith: { $1 }), attachments: Self.full.attachments,
            tags: Self.full.tags, metadata: Self.full.metadata, providerOptions: Self.full.providerOptions)
        #expect(StoredContent(Self.full).fields == StoredContent(reordered).fields)
    }

    @Test func `content stored as JSON is still read, with its bodies in the JSON or beside it`() throws {
        // JSON kept a mailbox as text, where an empty display name reads back as none.
        var legacy = Self.full
        legacy.cc = [EmailAddress(address: "carol@example.net")]
        var withoutBodies = legacy
        (withoutBodies.text, withoutBodies.html) = (nil, nil)
        let json = try JSONEncoder().encode(withoutBodies)
        #expect(try StoredContent(fields: json, text: legacy.text, html: legacy.html).message() == legacy)
        #expect(try StoredContent(fields: try JSONEncoder().encode(legacy), text: nil, html: nil).message() == legacy)
    }

    @Test func `damaged content fails as corrupt, whatever byte it ends at`() throws {
        let fields = StoredContent(Self.full).fields
        for length in 1..<fields.count {
            #expect(throws: StoreError.self) { try StoredContent(fields: fields.prefix(length), text: nil, html: nil).message() }
        }
        #expect(throws: StoreError.self) { try StoredContent(fields: fields + [0], text: nil, html: nil).message() }
        var badOptional = Data([0x01, 0x07])
        badOptional.append(contentsOf: fields.dropFirst(2))
        #expect(throws: StoreError.self) { try StoredContent(fields: badOptional, text: nil, html: nil).message() }
    }
}
