import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@testable import HeraldProviders

/// The Postmark error table, row by row ("API overview", https://postmarkapp.com/developer/api/overview).
@Suite("Postmark error classification")
struct PostmarkClassificationTests {
    @Test(
        arguments: [
            (422, 406, ErrorClass.recipient),
            (422, 300, .permanent),
            (422, 402, .permanent),
            (422, 411, .permanent),
            (422, 10, .providerFatal),
            (422, 400, .providerFatal),
            (422, 401, .providerFatal),
            (422, 405, .providerFatal),
            (422, 412, .providerFatal),
            (422, 1235, .providerFatal),
            (401, 10, .providerFatal),
            (401, nil, .providerFatal),
            (404, nil, .providerFatal),
            (413, nil, .failover),
            (429, nil, .transient),
            (500, nil, .transient),
            (503, nil, .transient),
        ] as [(Int, Int?, ErrorClass)])
    func `classifies each documented answer`(status: Int, errorCode: Int?, expected: ErrorClass) {
        let body = errorCode.map { #"{"ErrorCode": \#($0), "Message": "details"}"# } ?? ""
        let failure = PostmarkProvider.classify(status: UInt(status), headers: [:], body: Array(body.utf8))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "postmark_\(status)" + (errorCode.map { "_\($0)" } ?? ""))
    }

    @Test func `an inactive recipient is not a reason to fail over`() {
        let failure = PostmarkProvider.classify(status: 422, headers: [:], body: Array(#"{"ErrorCode": 406}"#.utf8))
        #expect(failure.errorClass.isFinalForEmail)
        #expect(!failure.errorClass.countsAgainstProvider)
    }

    @Test func `honours Retry-After`() {
        #expect(PostmarkProvider.classify(status: 429, headers: ["Retry-After": "3"], body: []).retryAfter == .seconds(3))
    }
}
