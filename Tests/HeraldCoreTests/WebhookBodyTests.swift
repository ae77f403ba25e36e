import Foundation
import HeraldCore
import Testing

@Suite("Webhook bodies")
struct WebhookBodyTests {
    /// The body as `JSONEncoder` writes it, which the hand-written one replaced: the same
    /// bytes, so receivers that stored or compared bodies see no change.
    struct Reference: Encodable {
        struct Bounce: Encodable {
            let type: String
            let classification: String
            let diagnostic: String?
        }

        struct Fields: Encodable {
            let emailID: String
            let tags: [String]
            let metadata: [String: String]
            let provider: String?
            let providerMessageID: String?
            let reason: String?
            let recipient: String?
            let providerEventID: String?
            let detail: String?
            let bounce: Bounce?

            enum CodingKeys: String, CodingKey {
                case tags, metadata, provider, reason, recipient, detail, bounce
                case emailID = "email_id"
                case providerMessageID = "provider_message_id"
                case providerEventID = "provider_event_id"
            }
        }

        let type: String
        let timestamp: String
        let data: Fields

        init(_ trigger: WebhookTrigger, tags: [String], metadata: [String: String]) {
            type = trigger.type.rawValue
            timestamp = UTCTime(trigger.at).iso8601
            data = Fields(
                emailID: trigger.emailID.rawValue, tags: tags, metadata: metadata, provider: trigger.provider,
                providerMessageID: trigger.providerMessageID, reason: trigger.reason, recipient: trigger.event?.recipient,
                providerEventID: trigger.event?.id, detail: trigger.event?.detail,
                bounce: trigger.event?.bounce.map {
                    Bounce(type: $0.severity.rawValue, classification: $0.classification, diagnostic: $0.diagnostic)
                })
        }

        func encoded() throws -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Array(try encoder.encode(self))
        }
    }

    static let awkward = "quote \" backslash \\ slash / tab \t newline \n return \r bell \u{07} nul \u{00} unit \u{1F} é 漢字 🙂"

    @Test
    func `a queued email's body matches JSONEncoder's`() throws {
        let trigger = WebhookTrigger(
            type: .queued, emailID: EmailID(date: Date(milliseconds: 1_795_655_414_007)), at: Date(milliseconds: 1_795_655_414_007))
        for (tags, metadata) in [([], [:]), (["welcome", Self.awkward], ["b": "2", "a": Self.awkward, "Z": ""])] {
            let body = trigger.body(tags: tags, metadata: metadata)
            #expect(
                String(decoding: body, as: UTF8.self)
                    == String(decoding: try Reference(trigger, tags: tags, metadata: metadata).encoded(), as: UTF8.self))
        }
    }

    @Test
    func `a bounce's body matches JSONEncoder's, and nil fields are left out`() throws {
        let event = ProviderEvent(
            id: "evt-\(Self.awkward)", provider: "ses", kind: .bounced, occurredAt: Date(milliseconds: 1_000), recipient: "bob@example.com",
            providerMessageID: "0100-abc", bounce: .init(severity: .hard, classification: "Permanent/General", diagnostic: Self.awkward),
            detail: nil)
        let bounced = WebhookTrigger(
            type: .bounced, emailID: EmailID(date: Date(milliseconds: 2_000)), at: Date(milliseconds: 3_000), event: event)
        let failed = WebhookTrigger(
            type: .failed, emailID: EmailID(date: Date(milliseconds: 2_000)), at: Date(milliseconds: 3_000), reason: "retries_exhausted")
        for trigger in [bounced, failed] {
            let body = trigger.body(tags: ["t"], metadata: ["k": "v"])
            #expect(
                String(decoding: body, as: UTF8.self)
                    == String(decoding: try Reference(trigger, tags: ["t"], metadata: ["k": "v"]).encoded(), as: UTF8.self))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let fields = try #require(object["data"] as? [String: Any])
            #expect(fields["detail"] == nil)
        }
    }
}
