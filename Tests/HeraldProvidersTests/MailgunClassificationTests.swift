import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@testable import HeraldProviders

/// The Mailgun error table, row by row (https://documentation.mailgun.com/docs/mailgun/api-reference/api-overview).
@Suite("Mailgun error classification")
struct MailgunClassificationTests {
    @Test(arguments: [
        (400, ErrorClass.permanent),
        (401, .providerFatal),
        (403, .providerFatal),
        (404, .providerFatal),
        (413, .failover),
        (429, .transient),
        (500, .transient),
        (502, .transient),
        (503, .transient),
    ])
    func `classifies each documented status`(status: Int, expected: ErrorClass) {
        let failure = MailgunProvider.classify(status: UInt(status), headers: [:], body: Array(#"{"message": "to bob@example.com"}"#.utf8))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "mailgun_\(status)")
        #expect(!failure.message.contains("bob@example.com"))
    }

    @Test func `honours Retry-After`() {
        #expect(MailgunProvider.classify(status: 429, headers: ["Retry-After": "4"], body: []).retryAfter == .seconds(4))
    }
}
