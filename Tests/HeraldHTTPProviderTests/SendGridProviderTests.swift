import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// The SendGrid adapter against a local server that checks requests like SendGrid's v3 Mail
/// Send API and answers with its documented success and error responses.
@Suite("SendGrid provider against a fake SendGrid")
struct SendGridProviderTests {
    let clock = ManualClock()

    func withSendGrid<T>(
        answer: FakeAnswer, check: @escaping FakeProviderServer.Check = SendGridFormat.problems, timeout: Duration = .seconds(10),
        maxMessageBytes: Int = SendGridProvider.Configuration.defaultMaxMessageBytes,
        _ body: (SendGridProvider, FakeProviderServer) async throws -> T
    ) async throws -> T {
        try await FakeProviderServer.run(answer: answer, check: check) { server in
            try await withHTTPClient { client in
                let configuration = SendGridProvider.Configuration(
                    apiKey: SendGridFormat.apiKey, endpoint: server.endpoint, timeout: timeout, maxMessageBytes: maxMessageBytes
                )
                return try await body(
                    SendGridProvider(name: "sendgrid", configuration: configuration, client: client, clock: clock), server)
            }
        }
    }

    func failure(answer: FakeAnswer, timeout: Duration = .seconds(10)) async throws -> ProviderFailure {
        try await withSendGrid(answer: answer, timeout: timeout) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.fullDelivery()) }
            #expect(server.problems == [])
            for secret in Samples.secrets + [SendGridFormat.apiKey] { #expect(!failure.message.contains(secret)) }
            return failure
        }
    }

    @Test func `sends every field in SendGrid's format and returns the X-Message-Id`() async throws {
        try await withSendGrid(answer: .respond(status: 202, headers: ["X-Message-Id": "sg-message-1"])) { provider, server in
            let delivery = Samples.fullDelivery()
            let receipt = try await provider.send(delivery)
            #expect(receipt.providerMessageID == "sg-message-1")
            #expect(server.problems == [])
            let json = try #require(server.requests.first?.json)
            let personalization = try #require(json.array("personalizations")?.first)
            #expect(personalization.array("to")?.first?.string("email") == Samples.to.address)
            #expect(personalization.array("to")?.first?.string("name") == "Bob")
            #expect(personalization.array("cc")?.first?.string("email") == Samples.cc.address)
            #expect(personalization.array("bcc")?.first?.string("email") == Samples.bcc.address)
            #expect(personalization["custom_args"] as? [String: String] == ["herald_id": delivery.emailID.rawValue, "order": "1234"])
            #expect(json.object("from")?.string("email") == Samples.from.address)
            #expect(json.object("from")?.string("name") == "Ada Lovelace")
            #expect(json.object("reply_to")?.string("email") == Samples.replyTo.address)
            #expect(json.string("subject") == "Your receipt")
            #expect(json.array("content")?.map { $0.string("type") } == ["text/plain", "text/html"])
            let headers = try #require(json["headers"] as? [String: String])
            #expect(headers["X-Herald-Id"] == delivery.emailID.rawValue)
            #expect(headers["X-Campaign"] == "spring")
            #expect(headers["Message-ID"] == MIMEMessage.messageID(for: delivery.emailID, from: Samples.from))
            #expect(json["categories"] as? [String] == ["receipts", "billing"])
            let attachments = try #require(json.array("attachments"))
            #expect(attachments.map { $0.string("disposition") } == ["attachment", "inline"])
            #expect(attachments[1].string("content_id") == "logo")
            #expect(attachments[0].string("content") == Samples.attachmentBytes.base64EncodedString())
            #expect(attachments[1].string("type") == "image/png")
        }
    }

    @Test func `takes categories from the email's provider options`() async throws {
        try await withSendGrid(answer: .respond(status: 202, headers: ["X-Message-Id": "sg-2"])) { provider, server in
            var delivery = Samples.fullDelivery()
            delivery.message.providerOptions = ["sendgrid": ["categories": "invoices, monthly"]]
            _ = try await provider.send(delivery)
            #expect(server.requests.first?.json?["categories"] as? [String] == ["invoices", "monthly"])
        }
    }

    @Test func `sends several reply-to addresses as reply_to_list`() async throws {
        try await withSendGrid(answer: .respond(status: 202)) { provider, server in
            var delivery = Samples.fullDelivery()
            delivery.message.replyTo = [Samples.replyTo, Samples.cc]
            _ = try await provider.send(delivery)
            #expect(server.problems == [])
            let json = try #require(server.requests.first?.json)
            #expect(json["reply_to"] == nil)
            #expect(json.array("reply_to_list")?.count == 2)
        }
    }

    @Test(arguments: [
        (
            400, #"{"errors": [{"message": "The from address does not match a verified Sender Identity.", "field": "from"}]}"#,
            ErrorClass.permanent
        ),
        (
            401, #"{"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null}]}"#,
            .providerFatal
        ),
        (403, #"{"errors": [{"message": "access forbidden", "field": null}]}"#, .providerFatal),
        (413, #"{"errors": [{"message": "Payload Too Large", "field": null}]}"#, .failover),
        (500, #"{"errors": [{"message": "Internal server error", "field": null}]}"#, .transient),
        (503, "", .transient),
    ])
    func `classifies each documented error answer`(status: Int, body: String, expected: ErrorClass) async throws {
        let failure = try await failure(answer: .respond(status: status, body: body))
        #expect(failure.errorClass == expected)
        #expect(failure.code == "sendgrid_\(status)")
    }

    @Test func `waits until X-RateLimit-Reset when rate limited`() async throws {
        let reset = Int(clock.now.timeIntervalSince1970) + 42
        let failure = try await failure(
            answer: .respond(
                status: 429, headers: ["X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "\(reset)"])
        )
        #expect(failure.errorClass == .transient)
        #expect(failure.retryAfter == .seconds(42))
    }

    @Test func `honours Retry-After when rate limited without a reset time`() async throws {
        let failure = try await failure(answer: .respond(status: 429, headers: ["Retry-After": "7"]))
        #expect(failure.errorClass == .transient)
        #expect(failure.retryAfter == .seconds(7))
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
        try await withSendGrid(answer: .respond(status: 202), maxMessageBytes: 4096) { provider, server in
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(Samples.largeDelivery(bytes: 8192)) }
            #expect(failure.errorClass == .failover)
            #expect(failure.code == "sendgrid_message_too_large")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func `the fake SendGrid notices a request with the wrong credentials`() async throws {
        try await FakeProviderServer.run(answer: .respond(status: 202), check: SendGridFormat.problems) { server in
            try await withHTTPClient { client in
                let configuration = SendGridProvider.Configuration(apiKey: "SG.wrong", endpoint: server.endpoint)
                _ = try? await SendGridProvider(name: "sendgrid", configuration: configuration, client: client).send(Samples.fullDelivery())
                #expect(server.problems.contains { $0.contains("Authorization") })
            }
        }
    }

    // The check of the key, which sends nothing.

    /// The documented example answer of `GET /v3/scopes`.
    static let scopes = #"{"scopes": ["mail.send", "alerts.create", "alerts.read"]}"#

    func checkFailure(answer: FakeAnswer) async throws -> ProviderFailure {
        try await withSendGrid(answer: answer, check: SendGridFormat.scopesProblems) { provider, server in
            try await HeraldHTTPProviderTests.checkFailure(of: provider, on: server, secret: SendGridFormat.apiKey)
        }
    }

    @Test func `checks the key by reading its scopes`() async throws {
        try await withSendGrid(answer: .respond(status: 200, body: Self.scopes), check: SendGridFormat.scopesProblems) { provider, server in
            #expect(try await provider.verify())
            let request = try server.onlyRequest()
            #expect(request.method == "GET")
            #expect(request.path == "/v3/scopes")
            #expect(request.header("Authorization") == "Bearer \(SendGridFormat.apiKey)")
        }
    }

    @Test func `a refused key fails the check as provider_fatal`() async throws {
        let failure = try await checkFailure(
            answer: .respond(status: 401, body: #"{"errors": [{"field": null, "message": "authorization required"}]}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "sendgrid_401")
    }

    @Test func `a key without the mail.send scope fails the check as provider_fatal`() async throws {
        let failure = try await checkFailure(answer: .respond(status: 200, body: #"{"scopes": ["alerts.read", "stats.read"]}"#))
        #expect(failure.errorClass == .providerFatal)
        #expect(failure.code == "sendgrid_missing_mail_send")
        #expect(failure.message.contains("mail.send"))
    }
}
