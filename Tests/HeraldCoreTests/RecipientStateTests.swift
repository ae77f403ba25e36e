import Foundation
import HeraldCore
import Testing

@Suite("Recipient state from provider events")
struct RecipientStateTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func event(_ kind: ProviderEvent.Kind, _ bounce: ProviderEvent.Bounce? = nil, at offset: TimeInterval = 0) -> ProviderEvent {
        ProviderEvent(
            id: "\(kind)", provider: "p", kind: kind, occurredAt: start.addingTimeInterval(offset), recipient: "a@x.example", bounce: bounce
        )
    }

    func phase(after kinds: [ProviderEvent.Kind]) -> RecipientState.Phase? {
        kinds.reduce(nil as RecipientState?) { state, kind in RecipientState.applying(event(kind), to: state, address: "a@x.example") }?
            .phase
    }

    @Test(arguments: [
        ([ProviderEvent.Kind.delivered, .bounced], RecipientState.Phase.bounced),
        ([.bounced, .delivered], .bounced),
        ([.complained, .delivered], .complained),
        ([.delivered, .complained, .bounced], .complained),
        ([.opened], .delivered),
        ([.deferred, .clicked], .delivered),
        ([.delivered, .deferred], .delivered),
        ([.queued, .unknown], nil),
        ([.sent, .rejected], .failed),
        ([.delivered, .unsubscribed, .opened], .unsubscribed),
    ])
    func `events in any order leave the highest state`(kinds: [ProviderEvent.Kind], expected: RecipientState.Phase?) {
        #expect(phase(after: kinds) == expected)
    }

    @Test func `the bounce that set the state is kept, and dropped when a complaint tops it`() {
        let bounce = ProviderEvent.Bounce(severity: .hard, classification: "Permanent/General")
        let bounced = RecipientState.applying(event(.bounced, bounce, at: 5), to: nil, address: "a@x.example")
        #expect(bounced == RecipientState(address: "a@x.example", phase: .bounced, updatedAt: start.addingTimeInterval(5), bounce: bounce))
        let complained = RecipientState.applying(event(.complained, at: 9), to: bounced, address: "a@x.example")
        #expect(complained?.bounce == nil)
        #expect(complained?.updatedAt == start.addingTimeInterval(9))
    }

    @Test func `the policy suppresses hard bounces and complaints, counts soft bounces, and can be turned off`() {
        let policy = EventSuppressionPolicy(softBounceLimit: 3, softBounceWindow: .seconds(3600))
        #expect(policy.verdict(for: event(.bounced, .init(severity: .hard, classification: "x"))) == .suppress(reason: "hard_bounce: x"))
        #expect(policy.verdict(for: event(.complained)) == .suppress(reason: "complaint"))
        #expect(policy.verdict(for: event(.unsubscribed)) == .none)
        #expect(
            policy.verdict(for: event(.bounced, .init(severity: .soft, classification: "y")))
                == .countSoftBounce(limit: 3, since: start.addingTimeInterval(-3600)))
        let off = EventSuppressionPolicy(hardBounces: false, complaints: false, softBounceLimit: nil)
        for kind in [ProviderEvent.Kind.bounced, .complained] { #expect(off.verdict(for: event(kind)) == .none) }
    }
}
