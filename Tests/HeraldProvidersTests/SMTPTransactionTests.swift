import Foundation
import HeraldCore
import HeraldTesting
import Testing

@testable import HeraldProviders

@Suite("SMTP transaction")
struct SMTPTransactionTests {
    private let envelope = SMTPEnvelope(
        sender: "ada@example.org", recipients: ["bob@example.com", "eve@example.net"], message: Array("hi\r\n".utf8))

    private static let ok = SMTPReply(code: 250, lines: ["Ok"])
    private static let goAhead = SMTPReply(code: 354, lines: ["End data with <CR><LF>.<CR><LF>"])
    private static let noSuchUser = SMTPReply(code: 550, enhancedCode: EnhancedStatusCode(5, 1, 1), lines: ["no such user"])
    private static let tryLater = SMTPReply(code: 450, enhancedCode: EnhancedStatusCode(4, 2, 1), lines: ["mailbox busy"])
    private static let noRecipients = SMTPReply(code: 554, enhancedCode: EnhancedStatusCode(5, 5, 1), lines: ["no valid recipients"])

    private func transaction(reset: Bool = false) -> SMTPTransaction {
        SMTPTransaction(envelope, capabilities: SMTPCapabilities(), reset: reset)
    }

    @Test func `sends RSET on a reused session, then MAIL, each RCPT and DATA`() {
        #expect(
            transaction(reset: true).lines == [
                "RSET", "MAIL FROM:<ada@example.org>", "RCPT TO:<bob@example.com>", "RCPT TO:<eve@example.net>", "DATA",
            ])
        #expect(transaction(reset: true).stages == [.reset, .mailFrom, .rcptTo, .rcptTo, .data])
        #expect(transaction().lines.first == "MAIL FROM:<ada@example.org>")
    }

    @Test func `goes ahead when every recipient is taken`() {
        var transaction = transaction()
        let goesOn = [Self.ok, Self.ok, Self.ok, Self.goAhead].map { transaction.read($0) }
        #expect(goesOn == [true, true, true, true])
        #expect(transaction.failure == nil)
        #expect(transaction.refused.isEmpty)
    }

    @Test func `sets aside a recipient refused for good and goes ahead for the others`() {
        var transaction = transaction()
        let goesOn = [Self.ok, Self.ok, Self.noSuchUser, Self.goAhead].map { transaction.read($0) }
        #expect(goesOn == [true, true, true, true])
        #expect(transaction.failure == nil)
        #expect(transaction.refused.map(\.address) == ["eve@example.net"])
        #expect(transaction.refused.first?.failure.errorClass == .recipient)
        #expect(transaction.refused.first?.failure.code == "smtp_550_5.1.1")
    }

    @Test func `fails with the recipient class when every recipient is refused`() {
        var transaction = transaction()
        let goesOn = [Self.ok, Self.noSuchUser, Self.noSuchUser].map { transaction.read($0) }
        #expect(goesOn == [true, true, false], "DATA must not be sent one command at a time")
        transaction.read(Self.noRecipients)
        #expect(transaction.failure?.failure.errorClass == .recipient)
        #expect(transaction.failure?.failure.recipients == ["bob@example.com", "eve@example.net"])
        #expect(transaction.failure?.keepsConnection == true)
    }

    @Test func `a recipient refused for now fails the whole message, to be tried again for everyone`() {
        var transaction = transaction()
        let goesOn = [Self.ok, Self.tryLater].map { transaction.read($0) }
        #expect(goesOn == [true, false])
        #expect(transaction.failure?.failure.errorClass == .transient)
        #expect(transaction.failure?.keepsConnection == true)
    }

    @Test func `closes a pipelined session whose DATA was taken after a refusal`() {
        var transaction = transaction()
        for reply in [Self.ok, Self.tryLater, Self.ok, Self.goAhead] { transaction.read(reply) }
        #expect(transaction.failure?.failure.code == "smtp_450_4.2.1")
        #expect(transaction.failure?.keepsConnection == false, "the server waits for a message that must not be sent")
    }

    @Test func `a refused sender ends the transaction and later replies change nothing`() {
        var transaction = transaction(reset: true)
        let tooBig = SMTPReply(code: 552, enhancedCode: EnhancedStatusCode(5, 3, 4), lines: ["too big"])
        let goesOn = [Self.ok, tooBig].map { transaction.read($0) }
        #expect(goesOn == [true, false])
        for reply in [Self.noSuchUser, Self.noSuchUser, Self.noRecipients] { transaction.read(reply) }
        #expect(transaction.failure?.stage == .mailFrom)
        #expect(transaction.failure?.failure.errorClass == .failover)
        #expect(transaction.refused.isEmpty)
    }

    @Test func `writes internationalized domains in their ASCII form so that only a non-ASCII local part needs SMTPUTF8`() {
        var message = EmailMessage.sample()
        message.from = EmailAddress(address: "ada@bücher.de")
        message.to = [EmailAddress(address: "bob@例え.jp"), EmailAddress(address: "zoë@example.org")]
        let envelope = SMTPEnvelope(Delivery(emailID: EmailID(date: Date()), attempt: 1, message: message, acceptedAt: Date()))
        #expect(envelope.sender == "ada@xn--bcher-kva.de")
        #expect(envelope.recipients == ["bob@xn--r8jz45g.jp", "zoë@example.org"])
        #expect(envelope.needsSMTPUTF8)
        message.to.removeLast()
        #expect(!SMTPEnvelope(Delivery(emailID: EmailID(date: Date()), attempt: 1, message: message, acceptedAt: Date())).needsSMTPUTF8)
    }
}
