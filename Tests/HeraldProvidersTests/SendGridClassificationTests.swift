import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@testable import HeraldProviders

/// The SendGrid error table, row by row (v3 Mail Send reference and "Responses":
/// https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses).
@Suite("SendGrid error classification")
struct SendGridClassificationTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: ["0", "-1", "NaN", "inf", "-inf", "1e300", "-1e300", "", "99999999999999999999", "1800000030.5"])
    func `no rate limit header traps, and none asks for more than a day`(value: String) {
        for headers: HTTPHeaders in [["X-RateLimit-Reset": value], ["Retry-After": value]] {
            let failure = SendGridProvider.classify(status: 429, headers: headers, body: [], now: now)
            if let wait = failure.retryAfter { #expect(wait >= .zero && wait <= .seconds(86_400), "\(headers)") }
            let mailgun = MailgunProvider.classify(status: 429, headers: headers, body: [])
            if let wait = mailgun.retryAfter { #expect(wait >= .zero && wait <= .seconds(86_400), "\(headers)") }
        }
    }

    @Test(arguments: [
        (400, ErrorClass.permanent),
        (401, .providerFatal),
        (403, .providerFatal),
        (404, .providerFatal),
        (406, .permanent),
        (413, .failover),
        (429, .transient),
        (500, .transient),
        (502, .transient),
        (503, .transient),
    ])
    func `classifies each documented status`(status: Int, expected: ErrorClass) {
        let failure = SendGridProvider.classify(status: UInt(status), headers: [:], body: [], now: now)
        #expect(failure.errorClass == expected)
        #expect(failure.code == "sendgrid_\(status)")
    }

    @Test func `names the fields of a 400 but not SendGrid's text`() {
        let body = #"{"errors": [{"message": "Invalid address: bob@example.com", "field": "personalizations.0.to.0.email"}]}"#
        let failure = SendGridProvider.classify(status: 400, headers: [:], body: Array(body.utf8), now: now)
        #expect(failure.message.contains("personalizations.0.to.0.email"))
        #expect(!failure.message.contains("bob@example.com"))
    }

    @Test(
        arguments: [
            (["X-RateLimit-Reset": "1800000030"], Duration.seconds(30)),
            (["X-RateLimit-Reset": "1799999990"], .seconds(0)),
            (["X-RateLimit-Reset": "1800000030", "Retry-After": "5"], .seconds(30)),
            (["Retry-After": "5"], .seconds(5)),
            ([:], nil),
        ] as [([String: String], Duration?)])
    func `waits for the rate limit reset, else Retry-After`(headers: [String: String], expected: Duration?) {
        let failure = SendGridProvider.classify(status: 429, headers: HTTPHeaders(headers.map { ($0.key, $0.value) }), body: [], now: now)
        #expect(failure.retryAfter == expected)
    }
}
