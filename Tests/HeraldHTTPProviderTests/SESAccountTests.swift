import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// SES's GetAccount, which moto does not implement, against a local server answering as the
/// SES v2 API reference documents it (GetAccount: Response Syntax).
@Suite("SES account quota against a fake SES")
struct SESAccountTests {
    static let account = """
        {"DedicatedIpAutoWarmupEnabled": false, "EnforcementStatus": "HEALTHY", "ProductionAccessEnabled": true,
         "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 1234.0},
         "SendingEnabled": true}
        """

    /// GET /v2/email/account, signed with AWS Signature Version 4 for the `ses` service.
    static func problems(_ request: RecordedRequest) -> [String] {
        var problems: [String] = []
        if request.method != "GET" { problems.append("method is \(request.method), not GET") }
        if request.path != "/v2/email/account" { problems.append("path is \(request.path)") }
        let authorization = request.header("Authorization") ?? ""
        if !authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !authorization.contains("/eu-west-1/ses/aws4_request") {
            problems.append("not signed for ses in eu-west-1: \(authorization)")
        }
        if request.header("X-Amz-Date") == nil { problems.append("no X-Amz-Date") }
        return problems
    }

    func withSES<T>(answer: FakeAnswer, _ body: (SESProvider, FakeProviderServer) async throws -> T) async throws -> T {
        try await FakeProviderServer.run(answer: answer, check: Self.problems) { server in
            try await withHTTPClient { client in
                let configuration = SESProvider.Configuration(
                    region: "eu-west-1", endpoint: server.endpoint,
                    credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")
                )
                return try await body(SESProvider(name: "ses", configuration: configuration, client: client), server)
            }
        }
    }

    @Test func `reads the sending quota`() async throws {
        try await withSES(answer: .respond(status: 200, headers: ["Content-Type": "application/json"], body: Self.account)) {
            provider, server in
            let quota = try await provider.sendQuota()
            #expect(quota == SESSendQuota(max24HourSend: 50000, maxSendRate: 14, sentLast24Hours: 1234))
            #expect(try await provider.reportedLimits() == ReportedLimits(maxPer24Hours: 50000, sentLast24Hours: 1234, maxSendRate: 14))
            #expect(try await provider.verify())
            #expect(server.problems == [])
        }
    }

    @Test(arguments: [
        ("1e300", "-1e300", "1e-300", ReportedLimits(maxPer24Hours: Int(Int32.max), sentLast24Hours: 0, maxSendRate: nil)),
        ("-1", "99999999999999999999", "1e300", ReportedLimits(maxPer24Hours: nil, sentLast24Hours: Int(Int32.max), maxSendRate: nil)),
        ("0", "0", "0", ReportedLimits(maxPer24Hours: 0, sentLast24Hours: 0, maxSendRate: nil)),
    ])
    func `bounds every number of the quota, however large`(max: String, sent: String, rate: String, expected: ReportedLimits)
        async throws
    {
        let account = #"{"SendQuota": {"Max24HourSend": \#(max), "MaxSendRate": \#(rate), "SentLast24Hours": \#(sent)}}"#
        try await withSES(answer: .respond(status: 200, headers: ["Content-Type": "application/json"], body: account)) { provider, _ in
            let limits = try await provider.reportedLimits()
            #expect(limits == expected)
        }
    }

    @Test func `a refused key fails the check as provider_fatal`() async throws {
        let refusal = FakeAnswer.respond(
            status: 403, headers: ["X-Amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/"],
            body: #"{"message": "The security token included in the request is invalid."}"#
        )
        try await withSES(answer: refusal) { provider, _ in
            let failure = try await #require(throws: ProviderFailure.self) { _ = try await provider.verify() }
            #expect(failure.errorClass == .providerFatal)
            #expect(failure.code == "ses_403_UnrecognizedClientException")
        }
    }
}
