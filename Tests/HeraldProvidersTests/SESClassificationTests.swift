import HeraldCore
import NIOHTTP1
import Testing

@testable import HeraldProviders

/// The SES error table, row by row (SES v2 API reference, "SendEmail: Errors").
@Suite("SES error classification")
struct SESClassificationTests {
    @Test(arguments: [
        (400, "MessageRejected", ErrorClass.permanent),
        (400, "BadRequestException", .permanent),
        (400, "AccountSuspendedException", .providerFatal),
        (400, "SendingPausedException", .providerFatal),
        (400, "MailFromDomainNotVerifiedException", .providerFatal),
        (400, "LimitExceededException", .providerFatal),
        (404, "NotFoundException", .providerFatal),
        (403, "SignatureDoesNotMatch", .providerFatal),
        (403, "AccessDeniedException", .providerFatal),
        (413, "", .failover),
        (429, "TooManyRequestsException", .transient),
        (500, "InternalFailure", .transient),
        (503, "ServiceUnavailable", .transient),
    ])
    func `classifies each documented answer`(status: Int, type: String, expected: ErrorClass) {
        var headers = HTTPHeaders()
        if !type.isEmpty {
            headers.add(name: "X-Amzn-ErrorType", value: "\(type):http://internal.amazon.com/coral/com.amazon.coral.service/")
        }
        let failure = SESProvider.classify(status: UInt(status), headers: headers, body: [])
        #expect(failure.errorClass == expected)
        #expect(failure.code == "ses_\(status)" + (type.isEmpty ? "" : "_\(type)"))
    }

    @Test func `honours Retry-After on throttling`() {
        let failure = SESProvider.classify(status: 429, headers: ["Retry-After": "7"], body: [])
        #expect(failure.retryAfter == .seconds(7))
    }

    @Test(
        arguments: [
            (#"{"__type": "com.amazonaws.ses#MessageRejected", "message": "x"}"#, "MessageRejected"),
            (#"{"code": "TooManyRequestsException"}"#, "TooManyRequestsException"),
            ("<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>", "SignatureDoesNotMatch"),
            ("not an error body", nil),
        ] as [(String, String?)])
    func `reads the error type from the body when the header is missing`(body: String, type: String?) {
        #expect(SESProvider.errorType(headers: [:], body: Array(body.utf8)) == type)
    }
}
