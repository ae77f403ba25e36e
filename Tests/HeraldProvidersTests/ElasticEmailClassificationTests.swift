import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@testable import HeraldProviders

/// The Elastic Email error table, row by row
/// (https://elasticemail.com/developers/api-documentation/rest-api#section/Response-codes).
@Suite("Elastic Email error classification")
struct ElasticEmailClassificationTests {
    @Test(arguments: [
        (400, ErrorClass.permanent),
        (401, .providerFatal),
        (403, .providerFatal),
        (404, .providerFatal),
        (413, .failover),
        (429, .transient),
        (500, .transient),
        (503, .transient),
    ])
    func `classifies each documented status`(status: Int, expected: ErrorClass) {
        let failure = ElasticEmailProvider.classify(status: UInt(status), headers: [:], body: Array(#"{"Error": "bob@example.com"}"#.utf8))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "elasticemail_\(status)")
        #expect(!failure.message.contains("bob@example.com"))
    }

    @Test func `honours Retry-After`() {
        #expect(ElasticEmailProvider.classify(status: 429, headers: ["Retry-After": "6"], body: []).retryAfter == .seconds(6))
    }
}
