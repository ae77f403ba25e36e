import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// The Postmark adapter against a local server that checks requests like Postmark's Email API
/// and answers with its documented success and error responses.
@Suite("Postmark provider against a fake Postmark")
struct PostmarkProviderTests {
    func withPostmark<T>(
        answer: FakeAnswer, check: @escaping FakeProviderServer.Check = PostmarkFormat.problems, timeout: Duration = .seconds(10),
        maxMessageBytes: Int = PostmarkProvider.Configuration.defaultMaxMessageBytes,
        messageStream: String = PostmarkProvider.Configuration.defaultMessageStream,
        _ body: (PostmarkProvider, FakeProviderServer) async throws -> T
    ) async throws -> T {
        try await FakeProviderServer.run(answer: answer, check: check) { server in
            try await withHTTPClient { client in
                let configuration = PostmarkProvider.Configuration(
                    serverToken: PostmarkFormat.serverToken, endpoint: server.endpoint, messageStream: messageStream, timeout: timeout,
                    maxMessageBytes: maxMessageBytes
                )
                return try await body(PostmarkProvider(name: "postmark", configuration: configuration, client: client), server)
            }
        }
    }

    func failure(answer: FakeAnswer, timeout: Duration = .seconds(10)) async throws -> ProviderFailure {
        try await withPostmark(answer: answer, timeout: timeout) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.fullDelivery()) }
            #expect(server.problems == [])
            for secret in Samples.secrets + [PostmarkFormat.serverToken] { #expect(!failure.message.contains(secret)) }
            return failure
        }
    }

    /// A 307 to another port: the token must not follow it there, and the attempt must say why
    /// it failed.
    @Test func `never follows a redirect, so the token stays with the configured host`() async throws {
        try await FakeProviderServer.run(answer: .respond(status: 200, body: Self.success), check: { _ in [] }) { elsewhere in
            let redirect = FakeAnswer.respond(status: 307, headers: ["Location": "\(elsewhere.endpoint)/email"])
            let failure = try await failure(answer: redirect)
            #expect(failure.errorClass == .providerFatal)
            #expect(failure.code == "postmark_redirect_refused")
            #expect(elsewhere.requests.isEmpty, "the request followed the redirect to another host")
        }
    }

    static let success =
        #"{"To": "Bob <bob@example.com>", "SubmittedAt": "2026-11-26T10:00:00.0000000-05:00", "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "ErrorCode": 0, "Message": "OK"}"#

    @Test func `sends every field in Postmark's format and returns the MessageID`() async throws {
        try await withPostmark(answer: .respond(status: 200, body: Self.success), messageStream: "receipts") { provider, server in
            let delivery = Samples.fullDelivery()
            let receipt = try await provider.send(delivery)
            #expect(receipt.providerMessageID == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817")
            #expect(server.problems == [])
            let json = try #require(server.requests.first?.json)
            #expect(
                json.string("From") == "\"Ada Lovelace\" <ada@herald-test.example>"
                    || json.string("From") == "Ada Lovelace <ada@herald-test.example>")
            #expect(json.string("To") == "Bob <bob@example.com>")
            #expect(json.string("Cc") == Samples.cc.address)
            #expect(json.string("Bcc") == Samples.bcc.address)
            #expect(json.string("ReplyTo") == Samples.replyTo.address)
            #expect(json.string("Subject") == "Your receipt")
            #expect(json.string("TextBody") == "Plain body")
            #expect(json.string("HtmlBody")?.contains("cid:logo") == true)
            let headers = try #require(json["Headers"] as? [[String: String]])
            #expect(headers.contains(["Name": "X-Herald-Id", "Value": delivery.emailID.rawValue]))
            #expect(headers.contains(["Name": "X-Campaign", "Value": "spring"]))
            #expect(json.string("Tag") == "receipts")
            #expect(json["Metadata"] as? [String: String] == ["herald_id": delivery.emailID.rawValue, "order": "1234"])
            #expect(json.string("MessageStream") == "receipts")
            let attachments = try #require(json.array("Attachments"))
            #expect(attachments.map { $0.string("Name") } == ["receipt.txt", "logo.png"])
            #expect(attachments[0].string("Content") == Samples.attachmentBytes.base64EncodedString())
            #expect(attachments[0]["ContentID"] == nil)
            #expect(attachments[1].string("ContentID") == "cid:logo")
            #expect(attachments[1].string("ContentType") == "image/png")
        }
    }

    @Test func `takes the message stream from the email's provider options`() async throws {
        try await withPostmark(answer: .respond(status: 200, body: Self.success)) { provider, server in
            var delivery = Samples.fullDelivery()
            delivery.message.providerOptions = ["postmark": ["message_stream": "broadcast"]]
            _ = try await provider.send(delivery)
            #expect(server.requests.first?.json?.string("MessageStream") == "broadcast")
        }
    }

    @Test func `sends through the outbound stream by default`() async throws {
        try await withPostmark(answer: .respond(status: 200, body: Self.success)) { provider, server in
            _ = try await provider.send(Samples.fullDelivery())
            #expect(server.requests.first?.json?.string("MessageStream") == "outbound")
        }
    }

    @Test(arguments: [
        (
            422, #"{"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked as inactive."}"#,
            ErrorClass.recipient, "postmark_422_406"
        ),
        (422, #"{"ErrorCode": 300, "Message": "Invalid 'From' address."}"#, .permanent, "postmark_422_300"),
        (422, #"{"ErrorCode": 411, "Message": "Forbidden attachment type."}"#, .permanent, "postmark_422_411"),
        (
            422, #"{"ErrorCode": 400, "Message": "The 'From' address you supplied is not a Sender Signature on your account."}"#,
            .providerFatal, "postmark_422_400"
        ),
        (422, #"{"ErrorCode": 10, "Message": "Bad or missing API token."}"#, .providerFatal, "postmark_422_10"),
        (
            401, #"{"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP headers."}"#, .providerFatal,
            "postmark_401_10"
        ),
        (413, "", .failover, "postmark_413"),
        (500, #"{"ErrorCode": 500, "Message": "Internal server error"}"#, .transient, "postmark_500_500"),
        (503, "", .transient, "postmark_503"),
    ])
    func `classifies each documented error answer`(status: Int, body: String, expected: ErrorClass, code: String) async throws {
        let failure = try await failure(answer: .respond(status: status, body: body))
        #expect(failure.errorClass == expected)
        #expect(failure.code == code)
    }

    @Test func `honours Retry-After when rate limited`() async throws {
        let failure = try await failure(
            answer: .respond(status: 429, headers: ["Retry-After": "12"], body: #"{"ErrorCode": 429, "Message": "Rate limit exceeded"}"#))
        #expect(failure.errorClass == .transient)
        #expect(failure.retryAfter == .seconds(12))
    }

    @Test func `an answer slower than the timeout is ambiguous`() async throws {
        let failure = try await failure(answer: .hang, timeout: .milliseconds(300))
        #expect(failure.errorClass == .ambiguous)
        #expect(failure.code == "timeout")
    }

    @Test func `a connection dropped without an answer is ambiguous or transient`() async throws {
        let failure = try await failure(answer: .drop)
        #expect([ErrorClass.ambiguous, .transient].contains(failure.errorClass))
    }

    @Test func `an email over the size limit fails over without a call`() async throws {
        try await withPostmark(answer: .respond(status: 200, body: Self.success), maxMessageBytes: 4096) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.largeDelivery(bytes: 8192)) }
            #expect(failure.errorClass == .failover)
            #expect(failure.code == "postmark_message_too_large")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func `the fake Postmark notices a request with the wrong credentials`() async throws {
        try await FakeProviderServer.run(answer: .respond(status: 200, body: Self.success), check: PostmarkFormat.problems) { server in
            try await withHTTPClient { client in
                let configuration = PostmarkProvider.Configuration(serverToken: "wrong", endpoint: server.endpoint)
                _ = try? await PostmarkProvider(name: "postmark", configuration: configuration, client: client).send(Samples.fullDelivery())
                #expect(server.problems.contains { $0.contains("X-Postmark-Server-Token") })
            }
        }
    }

    // The check of the token, which sends nothing.

    /// The start of the documented example answer of `GET /server`.
    static let server = #"{"ID": 1, "Name": "Staging Testing", "ApiTokens": ["postmark-test-token"], "Color": "red"}"#

    func checkFailure(answer: FakeAnswer) async throws -> ProviderFailure {
        try await withPostmark(answer: answer, check: PostmarkFormat.serverProblems) { provider, server in
            try await HeraldHTTPProviderTests.checkFailure(of: provider, on: server, secret: PostmarkFormat.serverToken)
        }
    }

    @Test func `checks the token by reading the server`() async throws {
        try await withPostmark(answer: .respond(status: 200, body: Self.server), check: PostmarkFormat.serverProblems) { provider, server in
            #expect(try await provider.verify())
            let request = try server.onlyRequest()
            #expect(request.method == "GET")
            #expect(request.path == "/server")
            #expect(request.header("X-Postmark-Server-Token") == PostmarkFormat.serverToken)
        }
    }

    @Test(arguments: [
        (401, #"{"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP headers."}"#, "postmark_401_10"),
        (422, #"{"ErrorCode": 10, "Message": "Bad or missing API token."}"#, "postmark_422_10"),
        (401, "", "postmark_401"),
    ])
    func `a refused token fails the check as provider_fatal`(status: Int, body: String, code: String) async throws {
        let failure = try await checkFailure(answer: .respond(status: status, body: body))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == code)
    }
}
