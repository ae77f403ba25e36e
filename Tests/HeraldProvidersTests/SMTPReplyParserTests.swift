import HeraldProviders
import Testing

@Suite("SMTP reply parser")
struct SMTPReplyParserTests {
    private func parse(_ lines: [String]) throws -> [SMTPReply] {
        var parser = SMTPReplyParser()
        return try lines.compactMap { try parser.consume($0[...]) }
    }

    @Test func `a single line reply keeps its text`() throws {
        #expect(try parse(["220 mx.example.org ESMTP ready"]) == [SMTPReply(code: 220, lines: ["mx.example.org ESMTP ready"])])
    }

    @Test func `continuation lines make one reply`() throws {
        let replies = try parse(["250-mx.example.org", "250-PIPELINING", "250-SIZE 1000", "250 8BITMIME"])
        #expect(replies == [SMTPReply(code: 250, lines: ["mx.example.org", "PIPELINING", "SIZE 1000", "8BITMIME"])])
    }

    @Test func `the enhanced status code is split off the first line`() throws {
        let replies = try parse(["550 5.1.1 <bob@example.com>: Recipient address rejected"])
        #expect(
            replies == [
                SMTPReply(code: 550, enhancedCode: EnhancedStatusCode(5, 1, 1), lines: ["<bob@example.com>: Recipient address rejected"])
            ])
    }

    @Test func `an enhanced code whose class differs from the reply's is plain text`() throws {
        #expect(try parse(["550 2.0.0 odd"]).first?.enhancedCode == nil)
        #expect(try parse(["250 2.0.0"]).first == SMTPReply(code: 250, enhancedCode: EnhancedStatusCode(2, 0, 0), lines: [""]))
    }

    @Test func `a bare code is a complete reply`() throws {
        #expect(try parse(["354"]) == [SMTPReply(code: 354, lines: [""])])
    }

    @Test func `consecutive replies come out one by one`() throws {
        let replies = try parse(["250 2.1.0 Ok", "250-2.1.5 first", "250 2.1.5 second", "354 go ahead"])
        #expect(replies.map(\.code) == [250, 250, 354])
        #expect(replies[1].lines == ["first", "2.1.5 second"])
    }

    @Test(arguments: ["", "25", "abc hello", "250+oops", "099 too small", "600 too big"])
    func `malformed lines are errors`(line: String) {
        var parser = SMTPReplyParser()
        #expect(throws: SMTPReplyParser.Error.malformedLine) { try parser.consume(line[...]) }
    }

    @Test func `a continuation with another code is an error`() throws {
        var parser = SMTPReplyParser()
        _ = try parser.consume("250-first")
        #expect(parser.isInsideReply)
        #expect(throws: SMTPReplyParser.Error.inconsistentCode) { try parser.consume("251 second") }
    }
}

@Suite("SMTP capabilities")
struct SMTPCapabilitiesTests {
    @Test func `EHLO keywords are read case-insensitively with their parameters`() {
        let reply = SMTPReply(
            code: 250,
            lines: [
                "mx.example.org greets you", "pipelining", "SIZE 35882577", "8BITMIME", "SMTPUTF8", "STARTTLS", "AUTH plain LOGIN", "DSN",
            ])
        let capabilities = SMTPCapabilities(ehloReply: reply)
        #expect(capabilities.pipelining)
        #expect(capabilities.supportsSize)
        #expect(capabilities.maximumSize == 35_882_577)
        #expect(capabilities.eightBitMIME)
        #expect(capabilities.smtpUTF8)
        #expect(capabilities.startTLS)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN"])
    }

    @Test func `SIZE 0 means no fixed limit, and the greeting line is not a keyword`() {
        let capabilities = SMTPCapabilities(ehloReply: SMTPReply(code: 250, lines: ["PIPELINING", "SIZE 0"]))
        #expect(!capabilities.pipelining)
        #expect(capabilities.supportsSize)
        #expect(capabilities.maximumSize == nil)
    }
}
