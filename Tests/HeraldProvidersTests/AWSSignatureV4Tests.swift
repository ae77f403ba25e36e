import Foundation
import HeraldProviders
import Testing

/// Every signature is compared with the one botocore computes for the same request, time and
/// credentials. moto does not check clock skew or the region of the credential scope, so this
/// comparison is what shows those parts right.
@Suite("AWS Signature Version 4")
struct AWSSignatureV4Tests {
    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var request: AWSSignatureV4.Request
        var credentials = AWSSignatureV4.Credentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        var region = "us-east-1"
        var service = "ses"
        var date = Date(timeIntervalSince1970: 1_795_741_814)  // 2026-11-26T01:10:14Z
    }

    static let cases: [Case] = [
        Case(
            description: "an SES send",
            request: .init(
                method: "POST", host: "email.us-east-1.amazonaws.com", path: "/v2/email/outbound-emails",
                headers: [("Content-Type", "application/json")], body: Array(#"{"FromEmailAddress":"a@example.org"}"#.utf8)
            )
        ),
        Case(
            description: "a query with spaces, reserved and non-ASCII characters, and repeated names",
            request: .init(
                method: "GET", host: "email.eu-west-1.amazonaws.com", path: "/v2/email/identities",
                query: [("b", "2"), ("a", "x y"), ("a", "ü/=&"), ("Ω", "~*'"), ("PageSize", "10")]
            ),
            region: "eu-west-1"
        ),
        Case(
            description: "a non-ASCII path, encoded once on the wire",
            request: .init(
                method: "GET", host: "email.us-east-1.amazonaws.com",
                path: "/v2/email/identities/" + AWSSignatureV4.percentEncode("bücher.de") + "/policies/"
                    + AWSSignatureV4.percentEncode("a b")
            )
        ),
        Case(
            description: "temporary credentials with a session token",
            request: .init(method: "GET", host: "email.us-west-2.amazonaws.com", path: "/v2/email/account"),
            credentials: .init(
                accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret/with+chars", sessionToken: "FwoGZXIvYXdzEJr//////////token=="),
            region: "us-west-2"
        ),
        Case(
            description: "headers with runs of spaces, repeated names, and headers that are never signed",
            request: .init(
                method: "POST", host: "localhost:5000", path: "/v2/email/outbound-emails",
                headers: [("X-Custom", "  a   b  "), ("X-Custom", "c"), ("User-Agent", "herald"), ("Content-Type", "application/json")],
                body: Array("{}".utf8)
            )
        ),
        Case(
            description: "dot segments and doubled slashes in the path",
            request: .init(method: "GET", host: "email.us-east-1.amazonaws.com", path: "/v2//email/./x/../account/"),
            service: "email"
        ),
    ]

    @Test(arguments: cases)
    func `matches botocore`(testCase: Case) throws {
        let ours = AWSSignatureV4(credentials: testCase.credentials, region: testCase.region, service: testCase.service)
            .signatureHeaders(for: testCase.request, at: testCase.date)
        let theirs = try botocoreHeaders(testCase)
        for (name, value) in ours {
            #expect(theirs[name] == value, "\(name) differs")
        }
        #expect(ours.count == theirs.count)
    }

    @Test func `a different secret gives a different signature`() throws {
        let testCase = Self.cases[0]
        var other = testCase.credentials
        other.secretAccessKey += "x"
        let first = AWSSignatureV4(credentials: testCase.credentials, region: "us-east-1", service: "ses")
            .signatureHeaders(for: testCase.request, at: testCase.date)
        let second = AWSSignatureV4(credentials: other, region: "us-east-1", service: "ses")
            .signatureHeaders(for: testCase.request, at: testCase.date)
        #expect(first.last?.value != second.last?.value)
    }

    /// The headers botocore's SigV4Auth adds to the same request at the same time.
    private func botocoreHeaders(_ testCase: Case) throws -> [String: String] {
        let input: [String: Any] = [
            "method": testCase.request.method,
            "url": "https://\(testCase.request.host)\(testCase.request.path)",
            "params": testCase.request.query.map { [$0.name, $0.value] },
            "headers": testCase.request.headers.map { [$0.name, $0.value] },
            "body": Data(testCase.request.body).base64EncodedString(),
            "access": testCase.credentials.accessKeyID,
            "secret": testCase.credentials.secretAccessKey,
            "token": testCase.credentials.sessionToken as Any,
            "region": testCase.region,
            "service": testCase.service,
            "epoch": testCase.date.timeIntervalSince1970,
        ]
        let script = """
            import base64, datetime, json, sys
            import botocore.auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            case = json.loads(sys.argv[1])
            now = datetime.datetime.fromtimestamp(case['epoch'], datetime.timezone.utc).replace(tzinfo=None)
            botocore.auth.get_current_datetime = lambda *args, **kwargs: now
            request = AWSRequest(method=case['method'], url=case['url'], data=base64.b64decode(case['body']),
                                 params=[tuple(pair) for pair in case['params']])
            for name, value in case['headers']:
                request.headers.add_header(name, value) if hasattr(request.headers, 'add_header') else request.headers.__setitem__(name, value)
            credentials = Credentials(case['access'], case['secret'], case['token'])
            botocore.auth.SigV4Auth(credentials, case['service'], case['region']).add_auth(request)
            wanted = ['X-Amz-Date', 'X-Amz-Security-Token', 'Authorization']
            print(json.dumps({name: request.headers[name] for name in wanted if name in request.headers}))
            """
        let json = try JSONSerialization.data(withJSONObject: input)
        return try Python.json(script, arguments: [String(decoding: json, as: UTF8.self)]) as? [String: String] ?? [:]
    }
}
