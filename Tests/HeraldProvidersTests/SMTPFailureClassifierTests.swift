import HeraldCore
import Testing

@testable import HeraldProviders

@Suite("SMTP failure classification")
struct SMTPFailureClassifierTests {
    private static func reply(_ code: Int, _ enhanced: EnhancedStatusCode? = nil) -> SMTPReply {
        SMTPReply(code: code, enhancedCode: enhanced, lines: ["text that may quote bob@example.com"])
    }

    @Test(arguments: [
        // 4xx: try again later or elsewhere, at any stage; 421 too (the server closes).
        (reply(421), SMTPStage.greeting, ErrorClass.transient, "smtp_421"),
        (reply(421, .init(4, 3, 2)), .mailFrom, .transient, "smtp_421_4.3.2"),
        (reply(450, .init(4, 2, 0)), .rcptTo, .transient, "smtp_450_4.2.0"),
        (reply(451), .dataEnd, .transient, "smtp_451"),
        (reply(452, .init(4, 5, 3)), .rcptTo, .transient, "smtp_452_4.5.3"),
        (reply(454, .init(4, 7, 0)), .auth, .transient, "smtp_454_4.7.0"),
        // Addresses: X.1.x, or 550/551/553 at RCPT.
        (reply(550, .init(5, 1, 1)), .rcptTo, .recipient, "smtp_550_5.1.1"),
        (reply(550), .rcptTo, .recipient, "smtp_550"),
        (reply(551), .rcptTo, .recipient, "smtp_551"),
        (reply(553), .rcptTo, .recipient, "smtp_553"),
        (reply(554, .init(5, 1, 10)), .dataEnd, .recipient, "smtp_554_5.1.10"),
        // The sender's address (X.1.7, X.1.8) is the message's problem, not a recipient's.
        (reply(553, .init(5, 1, 8)), .mailFrom, .permanent, "smtp_553_5.1.8"),
        // Authentication (RFC 4954): broken for every email.
        (reply(535, .init(5, 7, 8)), .auth, .providerFatal, "smtp_535_5.7.8"),
        (reply(534), .auth, .providerFatal, "smtp_534"),
        (reply(530, .init(5, 7, 0)), .mailFrom, .providerFatal, "smtp_530_5.7.0"),
        // Too large for this server: another may take it.
        (reply(552, .init(5, 3, 4)), .dataEnd, .failover, "smtp_552_5.3.4"),
        // Other 5xx: the message is refused, unless the session itself could not be set up.
        (reply(554, .init(5, 7, 1)), .dataEnd, .permanent, "smtp_554_5.7.1"),
        (reply(550), .mailFrom, .permanent, "smtp_550"),
        (reply(554), .data, .permanent, "smtp_554"),
        (reply(554), .greeting, .providerFatal, "smtp_554"),
        (reply(502), .startTLS, .providerFatal, "smtp_502"),
    ])
    func `negative replies map to error classes`(reply: SMTPReply, stage: SMTPStage, expected: ErrorClass, code: String) {
        let failure = SMTPFailureClassifier.failure(for: reply, at: stage)
        #expect(failure.errorClass == expected)
        #expect(failure.code == code)
        #expect(!failure.message.contains("@"), "no addresses from the server's text")
    }

    @Test(arguments: SMTPStage.allCases)
    func `transport errors are transient before the final dot and ambiguous after it`(stage: SMTPStage) {
        for error in [SMTPTransportError.timeout, .connectionClosed, .malformedReply] as [any Error] {
            let failure = SMTPFailureClassifier.failure(forTransportError: error, at: stage)
            #expect(failure.errorClass == (stage == .dataEnd ? .ambiguous : .transient))
        }
    }

    @Test func `transport failure codes say what broke`() {
        #expect(
            SMTPFailureClassifier.failure(forTransportError: SMTPTransportError.timeout, at: .dataEnd).code == "smtp_timeout_after_data")
        #expect(
            SMTPFailureClassifier.failure(forTransportError: SMTPTransportError.connectionClosed, at: .dataEnd).code
                == "smtp_connection_closed_after_data")
        #expect(SMTPFailureClassifier.failure(forTransportError: SMTPTransportError.timeout, at: .rcptTo).code == "smtp_timeout")
        #expect(
            SMTPFailureClassifier.failure(forTransportError: SMTPTransportError.connectionClosed, at: .connect).code
                == "smtp_connect_failed")
    }
}

@Suite("SMTP envelope")
struct SMTPEnvelopeTests {
    private let ascii = SMTPEnvelope(
        sender: "ada@example.org", recipients: ["bob@example.com", "eve@example.net"], message: Array("hi\r\n".utf8))

    @Test func `MAIL FROM carries SIZE only when offered`() {
        var capabilities = SMTPCapabilities()
        #expect(ascii.mailCommand(for: capabilities) == "MAIL FROM:<ada@example.org>")
        capabilities.supportsSize = true
        capabilities.eightBitMIME = true
        #expect(ascii.mailCommand(for: capabilities) == "MAIL FROM:<ada@example.org> SIZE=4")
    }

    @Test func `8-bit content asks for BODY=8BITMIME and internationalized addresses for SMTPUTF8`() {
        var capabilities = SMTPCapabilities()
        capabilities.eightBitMIME = true
        capabilities.smtpUTF8 = true
        let eightBit = SMTPEnvelope(sender: "ada@example.org", recipients: ["bob@example.com"], message: Array("Grüße\r\n".utf8))
        #expect(eightBit.mailCommand(for: capabilities) == "MAIL FROM:<ada@example.org> BODY=8BITMIME")
        let utf8 = SMTPEnvelope(sender: "zoë@example.org", recipients: ["bob@example.com"], message: Array("hi\r\n".utf8))
        #expect(utf8.mailCommand(for: capabilities) == "MAIL FROM:<zoë@example.org> BODY=8BITMIME SMTPUTF8")
        #expect(utf8.refusal(by: SMTPCapabilities(), configuredLimit: nil)?.code == "smtp_smtputf8_unsupported")
        #expect(eightBit.refusal(by: SMTPCapabilities(), configuredLimit: nil)?.code == "smtp_8bitmime_unsupported")
        #expect(eightBit.refusal(by: capabilities, configuredLimit: nil) == nil)
    }

    @Test func `a message over the server's SIZE or the configured limit fails over`() {
        var capabilities = SMTPCapabilities()
        capabilities.maximumSize = 3
        #expect(ascii.refusal(by: capabilities, configuredLimit: nil)?.errorClass == .failover)
        #expect(ascii.refusal(by: SMTPCapabilities(), configuredLimit: 3)?.errorClass == .failover)
        #expect(ascii.refusal(by: SMTPCapabilities(), configuredLimit: 4) == nil)
    }

    @Test func `the queue id is read from the final reply`() {
        #expect(
            SMTPProvider.queueID(in: SMTPReply(code: 250, enhancedCode: .init(2, 0, 0), lines: ["Ok: queued as 4Zx1yT0abc"]))
                == "4Zx1yT0abc")
        #expect(SMTPProvider.queueID(in: SMTPReply(code: 250, lines: ["2.0.0 Message accepted,", "QUEUED AS X9q ok"])) == "X9q")
        #expect(SMTPProvider.queueID(in: SMTPReply(code: 250, lines: ["OK"])) == nil)
        #expect(SMTPProvider.queueID(in: SMTPReply(code: 250, lines: ["Ok: queued as "])) == nil)
    }
}
