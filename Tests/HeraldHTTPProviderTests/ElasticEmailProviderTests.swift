import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// The Elastic Email adapter against a local server that checks requests like Elastic Email's
/// REST API v4 and answers with its documented success and error responses.
@Suite("Elastic Email provider against a fake Elastic Email")
struct ElasticEmailProviderTests {
    func withElasticEmail<T>(
        answer: FakeAnswer, check: @escaping FakeProviderServer.Check = ElasticEmailFormat.problems, timeout: Duration = .seconds(10),
        maxMessageBytes: Int = ElasticEmailProvider.Configuration.defaultMaxMessageBytes,
        _ body: (ElasticEmailProvider, FakeProviderServer) async throws -> T
    ) async throws -> T {
        try await FakeProviderServer.run(answer: answer, check: check) { server in
            try await withHTTPClient { client in
                let configuration = ElasticEmailProvider.Configuration(
                    apiKey: ElasticEmailFormat.apiKey, endpoint: server.endpoint, timeout: timeout, maxMessageBytes: maxMessageBytes
                )
                return try await body(ElasticEmailProvider(name: "elasticemail", configuration: configuration, client: client), server)
            }
        }
    }

    /// The full sample without its inline image, which Elastic Email cannot carry.
    static func delivery() -> Delivery {
        var delivery = Samples.fullDelivery()
        delivery.message.attachments.removeAll { $0.contentID != nil }
        return delivery
    }

    func failure(answer: FakeAnswer, timeout: Duration = .seconds(10)) async throws -> ProviderFailure {
        try await withElasticEmail(answer: answer, timeout: timeout) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Self.delivery()) }
            #expect(server.problems == [])
            for secret in Samples.secrets + [ElasticEmailFormat.apiKey] { #expect(!failure.message.contains(secret)) }
            return failure
        }
    }

    static let success = #"{"TransactionID": "1a2b3c4d-0000-4000-8000-000000000001", "MessageID": "Xy9_message-id"}"#

    @Test func `sends every field in Elastic Email's format and returns the MessageID`() async throws {
        try await withElasticEmail(answer: .respond(status: 200, body: Self.success)) { provider, server in
            let delivery = Self.delivery()
            let receipt = try await provider.send(delivery)
            #expect(receipt.providerMessageID == "Xy9_message-id")
            #expect(server.problems == [])
            let json = try #require(server.requests.first?.json)
            let recipients = try #require(json.object("Recipients"))
            #expect(recipients["To"] as? [String] == ["Bob <bob@example.com>"])
            #expect(recipients["CC"] as? [String] == [Samples.cc.address])
            #expect(recipients["BCC"] as? [String] == [Samples.bcc.address])
            let content = try #require(json.object("Content"))
            #expect(content.string("From") == "Ada Lovelace <ada@herald-test.example>")
            #expect(content.string("ReplyTo") == Samples.replyTo.address)
            #expect(content.string("Subject") == "Your receipt")
            #expect(content.array("Body")?.map { $0.string("ContentType") } == ["PlainText", "HTML"])
            #expect(content.array("Body")?.first?.string("Content") == "Plain body")
            let headers = try #require(content["Headers"] as? [String: String])
            #expect(headers["X-Herald-Id"] == delivery.emailID.rawValue)
            #expect(headers["X-Campaign"] == "spring")
            #expect(content.string("Postback") == delivery.emailID.rawValue)
            let attachment = try #require(content.array("Attachments")?.first)
            #expect(attachment.string("Name") == "receipt.txt")
            #expect(attachment.string("BinaryContent") == Samples.attachmentBytes.base64EncodedString())
            #expect(attachment.string("ContentType") == "text/plain")
            #expect(json.object("Options")?.string("ChannelName") == "receipts")
        }
    }

    @Test func `an email with inline images fails over without a call`() async throws {
        try await withElasticEmail(answer: .respond(status: 200, body: Self.success)) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.fullDelivery()) }
            #expect(failure.errorClass == .failover)
            #expect(failure.code == "elasticemail_inline_unsupported")
            #expect(server.requests.isEmpty)
        }
    }

    @Test(arguments: [
        (400, #"{"Error": "Invalid recipient"}"#, ErrorClass.permanent),
        (401, #"{"Error": "Access denied"}"#, .providerFatal),
        (403, #"{"Error": "Insufficient access level"}"#, .providerFatal),
        (413, "", .failover),
        (500, #"{"Error": "Internal server error"}"#, .transient),
        (503, "", .transient),
    ])
    func `classifies each documented error answer`(status: Int, body: String, expected: ErrorClass) async throws {
        let failure = try await failure(answer: .respond(status: status, body: body))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "elasticemail_\(status)")
    }

    @Test func `honours Retry-After when rate limited`() async throws {
        let failure = try await failure(
            answer: .respond(status: 429, headers: ["Retry-After": "20"], body: #"{"Error": "Too many requests"}"#))
        #expect(failure.errorClass == .transient)
        #expect(failure.retryAfter == .seconds(20))
    }

    @Test func `an answer slower than the timeout is ambiguous`() async throws {
        let failure = try await failure(answer: .hang, timeout: .milliseconds(300))
        #expect(failure.errorClass == .ambiguous)
        #expect(failure.code == "timeout")
    }

    @Test func `an answer slower than the call's deadline is ambiguous, however long the timeout`() async throws {
        try await withElasticEmail(answer: .hang, timeout: .seconds(60)) { provider, _ in
            var delivery = Self.delivery()
            delivery.deadline = .now.advanced(by: .milliseconds(300))
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(delivery) }
            #expect(failure.errorClass == .ambiguous)
            #expect(failure.code == "timeout")
        }
    }

    @Test func `a connection dropped without an answer is ambiguous or transient`() async throws {
        let failure = try await failure(answer: .drop)
        #expect([ErrorClass.ambiguous, .transient].contains(failure.errorClass))
    }

    @Test func `an email over the size limit fails over without a call`() async throws {
        try await withElasticEmail(answer: .respond(status: 200, body: Self.success), maxMessageBytes: 4096) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.largeDelivery(bytes: 8192)) }
            #expect(failure.errorClass == .failover)
            #expect(failure.code == "elasticemail_message_too_large")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func `the fake Elastic Email notices a request with the wrong credentials`() async throws {
        try await FakeProviderServer.run(answer: .respond(status: 200, body: Self.success), check: ElasticEmailFormat.problems) { server in
            try await withHTTPClient { client in
                let configuration = ElasticEmailProvider.Configuration(apiKey: "wrong", endpoint: server.endpoint)
                _ = try? await ElasticEmailProvider(name: "elasticemail", configuration: configuration, client: client).send(
                    Self.delivery())
                #expect(server.problems.contains { $0.contains("X-ElasticEmail-ApiKey") })
            }
        }
    }

    // The check of the key, which sends nothing.

    /// An answer of `GET /v4/domains`: a list of `DomainDetail`.
    static let domains =
        #"[{"Domain": "herald-test.example", "DefaultDomain": true, "Spf": true, "Dkim": true, "MX": true, "Verify": false}]"#

    func checkFailure(answer: FakeAnswer) async throws -> ProviderFailure {
        try await withElasticEmail(answer: answer, check: ElasticEmailFormat.domainsProblems) { provider, server in
            try await HeraldHTTPProviderTests.checkFailure(of: provider, on: server, secret: ElasticEmailFormat.apiKey)
        }
    }

    @Test func `checks the key by listing the domains`() async throws {
        try await withElasticEmail(answer: .respond(status: 200, body: Self.domains), check: ElasticEmailFormat.domainsProblems) {
            provider, server in
            #expect(try await provider.verify())
            let request = try server.onlyRequest()
            #expect(request.method == "GET")
            #expect(request.path == "/v4/domains")
            #expect(request.header("X-ElasticEmail-ApiKey") == ElasticEmailFormat.apiKey)
        }
    }

    @Test func `a refused key fails the check as provider_fatal`() async throws {
        let failure = try await checkFailure(answer: .respond(status: 401, body: #"{"Error": "Access denied"}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "elasticemail_401")
    }

    @Test func `a key without ViewSettings fails the check and says what it lacks`() async throws {
        let failure = try await checkFailure(answer: .respond(status: 403, body: #"{"Error": "Insufficient access level"}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "elasticemail_403")
        #expect(failure.message.contains("ViewSettings"))
    }
}
