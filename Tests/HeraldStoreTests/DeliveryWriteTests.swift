import Foundation
import HeraldCore
import HeraldStoreKit
import Testing

/// The plan both stores carry out for a delivery round's progress.
struct DeliveryWriteTests {
    let at = Date(timeIntervalSince1970: 1_800_000_000)
    let id = EmailID()

    func progress(_ next: DeliveryProgress.Next, attempt: Attempt? = nil, leftOut: [String] = [], refused: [RefusedRecipient] = [])
        -> DeliveryProgress
    {
        DeliveryProgress(
            emailID: id, leaseToken: 3, finishedAttempt: attempt, next: next, at: at, suppressedRecipients: leftOut, suppressing: refused)
    }

    @Test func `an attempt about to start is pending, with its event, and counts nothing`() {
        let write = DeliveryWrite(progress(.attempt(number: 2, provider: "ses")))
        #expect(write.change == .attemptStarting(number: 2, provider: "ses"))
        #expect(write.events.map(\.kind) == [.attemptStarted])
        #expect(write.events[0].attempt == 2 && write.events[0].provider == "ses")
        #expect(write.sentThrough == nil && write.activity == nil && write.webhook == nil)
        #expect(write.leaseToken == 3)
    }

    @Test func `a send after a failed attempt writes both attempts' history, counts the send and announces it`() {
        let failed = Attempt(
            number: 1, provider: "ses", startedAt: at, latencyMilliseconds: 12, outcome: .failed, errorClass: .transient,
            errorCode: "throttled")
        let write = DeliveryWrite(
            progress(.sent(provider: "sendgrid", providerMessageID: "sg-1"), attempt: failed, leftOut: ["carol@example.net"]))
        #expect(write.finishedAttempt == failed)
        #expect(write.events.map(\.kind) == [.suppressed, .attemptFailed, .sent])
        #expect(write.events[0].detail == "carol@example.net")
        #expect(write.events[1].detail == "transient:throttled")
        #expect(
            write.change
                == .roundEnded(status: .sent, dueAt: nil, provider: "sendgrid", providerMessageID: "sg-1", reason: nil, roundsChange: 0))
        #expect(write.sentThrough == "sendgrid")
        #expect(write.activity == nil)
        #expect(write.webhook?.type == .sent && write.webhook?.providerMessageID == "sg-1")
    }

    @Test func `waiting for a provider defers without spending a round`() {
        let until = at.addingTimeInterval(30)
        let write = DeliveryWrite(progress(.waiting(until: until, reason: "all providers paused")))
        #expect(
            write.change
                == .roundEnded(
                    status: .deferred, dueAt: until, provider: nil, providerMessageID: nil, reason: "all providers paused",
                    roundsChange: -1))
        let deferred = DeliveryWrite(progress(.deferred(until: until, reason: "transient")))
        #expect(
            deferred.change
                == .roundEnded(status: .deferred, dueAt: until, provider: nil, providerMessageID: nil, reason: "transient", roundsChange: 0)
        )
        #expect(write.webhook == nil && deferred.webhook == nil)
    }

    @Test func `a failure counts in the activity, suppresses refused recipients and announces email.failed`() {
        let refused = RefusedRecipient(
            address: "dave@example.net", failure: ProviderFailure(.recipient, code: "smtp_550_5.1.1", message: "no such user"))
        let write = DeliveryWrite(progress(.failed(reason: "every recipient refused"), refused: [refused]))
        #expect(write.events.map(\.kind) == [.failed])
        #expect(write.activity == .failed && write.sentThrough == nil)
        #expect(write.suppressions.map(\.address) == ["dave@example.net"])
        #expect(write.suppressions[0].source == .delivery && write.suppressions[0].emailID == id)
        #expect(write.suppressions[0].reason == "recipient:smtp_550_5.1.1: no such user")
        #expect(write.webhook?.type == .failed && write.webhook?.reason == "every recipient refused")
    }

    @Test func `an email whose every recipient is suppressed ends suppressed with a webhook and no event of its own`() {
        let write = DeliveryWrite(progress(.suppressed, leftOut: ["erin@example.net"]))
        #expect(write.events.map(\.kind) == [.suppressed])
        guard case .roundEnded(let status, _, _, _, _, _) = write.change else {
            Issue.record("not ended: \(write.change)")
            return
        }
        #expect(status == .suppressed)
        #expect(write.webhook?.type == .suppressed)
    }
}
