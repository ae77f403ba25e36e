import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// The Mailgun adapter against a local server that checks requests like Mailgun's Messages API
/// and answers with its documented success and error responses.
@Suite("Mailgun provider against a fake Mailgun")
struct MailgunProviderTests {
    func withMailgun<T>(
        answer: FakeAnswer, check: @escaping FakeProviderServer.Check = MailgunFormat.problems, timeout: Duration = .seconds(10),
        maxMessageBytes: Int = MailgunProvider.Configuration.defaultMaxMessageBytes,
        _ body: (MailgunProvider, FakeProviderServer) async throws -> T
    ) async throws -> T {
        try await FakeProviderServer.run(answer: answer, check: check) { server in
            try await withHTTPClient { client in
                let configuration = MailgunProvider.Configuration(
                    apiKey: MailgunFormat.apiKey, domain: MailgunFormat.domain, region: .eu, endpoint: server.endpoint, timeout: timeout,
                    maxMessageBytes: maxMessageBytes
                )
                return try await body(MailgunProvider(name: "mailgun", configuration: configuration, client: client), server)
            }
        }
    }

    func failure(answer: FakeAnswer, timeout: Duration = .seconds(10)) async throws -> ProviderFailure {
        try await withMailgun(answer: answer, timeout: timeout) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.fullDelivery()) }
            #expect(server.problems == [])
            for secret in Samples.secrets + [MailgunFormat.apiKey] { #expect(!failure.message.contains(secret)) }
            return failure
        }
    }

    static let success = #"{"id": "<20261126100000.1.ABCDEF@mg.herald-test.example>", "message": "Queued. Thank you."}"#

    @Test func `sends every field as Mailgun form parts and returns the id`() async throws {
        try await withMailgun(answer: .respond(status: 200, body: Self.success)) { provider, server in
            let delivery = Samples.fullDelivery()
            let receipt = try await provider.send(delivery)
            #expect(receipt.providerMessageID == "<20261126100000.1.ABCDEF@mg.herald-test.example>")
            #expect(server.problems == [])
            let request = try #require(server.requests.first)
            let parts = try MailgunFormat.parts(request)
            let values = { (name: String) in parts.filter { $0.name == name }.map(\.text) }
            #expect(values("from") == ["Ada Lovelace <ada@herald-test.example>"])
            #expect(values("to") == ["Bob <bob@example.com>"])
            #expect(values("cc") == [Samples.cc.address])
            #expect(values("bcc") == [Samples.bcc.address])
            #expect(values("subject") == ["Your receipt"])
            #expect(values("text") == ["Plain body"])
            #expect(values("html").first?.contains("cid:logo") == true)
            #expect(values("h:Reply-To") == [Samples.replyTo.address])
            #expect(values("h:X-Herald-Id") == [delivery.emailID.rawValue])
            #expect(values("h:X-Campaign") == ["spring"])
            #expect(values("v:herald_id") == [delivery.emailID.rawValue])
            #expect(values("v:order") == ["1234"])
            #expect(values("o:tag") == ["receipts", "billing"])
            let attachment = try #require(parts.first { $0.name == "attachment" })
            #expect(attachment.filename == "receipt.txt")
            #expect(attachment.contentType == "text/plain")
            #expect(attachment.content == Samples.attachmentBytes)
            let inline = try #require(parts.first { $0.name == "inline" })
            #expect(inline.filename == "logo")
            #expect(inline.content == Samples.imageBytes)
        }
    }

    @Test func `sends several recipients as repeated to values`() async throws {
        try await withMailgun(answer: .respond(status: 200, body: Self.success)) { provider, server in
            var delivery = Samples.fullDelivery()
            delivery.message.to = [Samples.to, EmailAddress(address: "erin@example.com")]
            _ = try await provider.send(delivery)
            let parts = try MailgunFormat.parts(try #require(server.requests.first))
            #expect(parts.filter { $0.name == "to" }.map(\.text) == ["Bob <bob@example.com>", "erin@example.com"])
        }
    }

    @Test(arguments: [
        (400, #"{"message": "'from' parameter is not a valid address. please check documentation"}"#, ErrorClass.permanent),
        (401, "Forbidden", .providerFatal),
        (
            403, #"{"message": "Domain mg.herald-test.example is not allowed to send: Free accounts are for test purposes only."}"#,
            .providerFatal
        ),
        (404, #"{"message": "Domain not found: mg.herald-test.example"}"#, .providerFatal),
        (413, #"{"message": "request entity too large"}"#, .failover),
        (500, #"{"message": "Internal Server Error"}"#, .transient),
        (503, "", .transient),
    ])
    func `classifies each documented error answer`(status: Int, body: String, expected: ErrorClass) async throws {
        let failure = try await failure(answer: .respond(status: status, body: body))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "mailgun_\(status)")
    }

    @Test func `honours Retry-After when rate limited`() async throws {
        let failure = try await failure(
            answer: .respond(status: 429, headers: ["Retry-After": "9"], body: #"{"message": "Too many requests"}"#))
        #expect(failure.errorClass == .transient)
        #expect(failure.retryAfter == .seconds(9))
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
        try await withMailgun(answer: .respond(status: 200, body: Self.success), maxMessageBytes: 4096) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.largeDelivery(bytes: 8192)) }
            #expect(failure.errorClass == .failover)
            #expect(failure.code == "mailgun_message_too_large")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func `the fake Mailgun notices a request with the wrong credentials`() async throws {
        try await FakeProviderServer.run(answer: .respond(status: 200, body: Self.success), check: MailgunFormat.problems) { server in
            try await withHTTPClient { client in
                let configuration = MailgunProvider.Configuration(apiKey: "wrong", domain: "other.example", endpoint: server.endpoint)
                _ = try? await MailgunProvider(name: "mailgun", configuration: configuration, client: client).send(Samples.fullDelivery())
                #expect(server.problems.contains { $0.contains("Authorization") })
            }
        }
    }

    // The check of the key and domain, which sends nothing.

    /// The start of the documented answer of `GET /v4/domains/{name}`.
    static let domain =
        #"{"domain": {"name": "mg.herald-test.example", "state": "active", "type": "custom"}, "receiving_dns_records": [], "sending_dns_records": []}"#

    func checkFailure(answer: FakeAnswer) async throws -> ProviderFailure {
        try await withMailgun(answer: answer, check: MailgunFormat.domainProblems) { provider, server in
            try await HeraldHTTPProviderTests.checkFailure(of: provider, on: server, secret: MailgunFormat.apiKey)
        }
    }

    @Test func `checks the key by reading the sending domain`() async throws {
        try await withMailgun(answer: .respond(status: 200, body: Self.domain), check: MailgunFormat.domainProblems) { provider, server in
            #expect(try await provider.verify())
            let request = try server.onlyRequest()
            #expect(request.method == "GET")
            #expect(request.path == "/v4/domains/mg.herald-test.example")
            #expect(request.header("Authorization") == "Basic " + Data("api:\(MailgunFormat.apiKey)".utf8).base64EncodedString())
        }
    }

    @Test func `a refused key fails the check as provider_fatal`() async throws {
        let failure = try await checkFailure(answer: .respond(status: 401, body: #"{"message": "Invalid private key"}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "mailgun_401")
    }

    @Test func `a domain unknown to the account fails the check and names the domain`() async throws {
        let failure = try await checkFailure(answer: .respond(status: 404, body: #"{"message": "Domain not found"}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "mailgun_404")
        #expect(failure.message.contains("no domain mg.herald-test.example"))
    }
}
