import Foundation
import HeraldCore

/// A recipient's delivery state in an email's answer.
struct RecipientBody: Encodable {
    let address: String
    let state: String
    let updatedAt: Date
    let bounce: BounceBody?

    init(_ state: RecipientState) {
        self.address = state.address
        self.state = state.phase.rawValue
        self.updatedAt = state.updatedAt
        self.bounce = state.bounce.map(BounceBody.init)
    }

    enum CodingKeys: String, CodingKey {
        case address, state, bounce
        case updatedAt = "updated_at"
    }
}

struct BounceBody: Encodable {
    /// hard, soft or undetermined.
    let type: String
    let classification: String
    let diagnostic: String?

    init(_ bounce: ProviderEvent.Bounce) {
        self.type = bounce.severity.rawValue
        self.classification = bounce.classification
        self.diagnostic = bounce.diagnostic
    }
}

/// One provider event in an email's answer, with the provider's payload as it came (cut at
/// ``ProviderEvent/maxPayloadBytes``).
struct ProviderEventBody: Encodable {
    let id: String
    let provider: String
    let type: String
    let recipient: String?
    let occurredAt: Date
    let receivedAt: Date
    let bounce: BounceBody?
    let detail: String?
    let payload: String

    init(_ recorded: RecordedProviderEvent) {
        let event = recorded.event
        self.id = event.id
        self.provider = event.provider
        self.type = event.kind.rawValue
        self.recipient = event.recipient
        self.occurredAt = event.occurredAt
        self.receivedAt = recorded.receivedAt
        self.bounce = event.bounce.map(BounceBody.init)
        self.detail = event.detail
        self.payload = String(decoding: event.payload, as: UTF8.self)
    }

    enum CodingKeys: String, CodingKey {
        case id, provider, type, recipient, bounce, detail, payload
        case occurredAt = "occurred_at"
        case receivedAt = "received_at"
    }
}
