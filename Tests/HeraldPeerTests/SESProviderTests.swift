import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import NIOCore
import Testing

/// The SES adapter against moto's SES v2 endpoint with signature checking on.
@Suite("SES provider against moto")
struct SESProviderTests {
    func withProvider(secret: String? = nil, _ body: (SESProvider, MotoState) async throws -> Void) async throws {
        let endpoint = try Peers.require("HERALD_TEST_SES_ENDPOINT")
        let credentials = AWSSignatureV4.Credentials(
            accessKeyID: try Peers.require("HERALD_TEST_SES_ACCESS_KEY_ID"),
            secretAccessKey: try secret ?? Peers.require("HERALD_TEST_SES_SECRET_ACCESS_KEY")
        )
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let provider = SESProvider(
                name: "ses", configuration: .init(region: "us-east-1", endpoint: endpoint, credentials: credentials), client: client
            )
            try await body(provider, MotoState(endpoint: endpoint, client: client))
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func delivery(_ message: EmailMessage) -> Delivery {
        Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date())
    }

    let sender = EmailAddress(displayName: "Herald Test", address: "sender@herald-test.example")

    /// What moto recorded, from its state dump.
    struct MotoState {
        let endpoint: String
        let client: HTTPClient

        func sentMessages(_ kind: String) async throws -> [[String: Any]] {
            let response = try await client.execute(HTTPClientRequest(url: "\(endpoint)/moto-api/data.json"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let ses = json?["ses"] as? [String: Any]
            return ses?[kind] as? [[String: Any]] ?? []
        }
    }

    @Test func `delivers simple content with the right signature`() async throws {
        try await withProvider { provider, moto in
            let message = EmailMessage(
                from: sender, to: [EmailAddress(address: "to@example.com")], bcc: [EmailAddress(address: "hidden@example.com")],
                subject: "Simple \(UUID())", text: "Hello from Herald"
            )
            let receipt = try await provider.send(delivery(message))
            #expect(receipt.providerMessageID?.isEmpty == false)
            let sent = try await moto.sentMessages("Message")
            let ours = try #require(sent.first { "\($0)".contains(message.subject) })
            #expect("\(ours)".contains("Hello from Herald"))
            #expect("\(ours)".contains("hidden@example.com"))
        }
    }

    @Test func `delivers raw MIME for attachments, with the Herald id inside`() async throws {
        try await withProvider { provider, moto in
            let message = EmailMessage(
                from: sender, to: [EmailAddress(address: "to@example.com")], subject: "Raw \(UUID())", text: "See attached",
                attachments: [Attachment(filename: "a.txt", contentType: "text/plain", content: Data("attached bytes".utf8))]
            )
            let delivery = delivery(message)
            _ = try await provider.send(delivery)
            let sent = try await moto.sentMessages("RawMessage")
            let ours = try #require(sent.first { "\($0)".contains(message.subject) })
            #expect("\(ours)".contains("X-Herald-Id: \(delivery.emailID)"))
            #expect("\(ours)".contains(Data("attached bytes".utf8).base64EncodedString()))
        }
    }

    @Test func `a wrong secret is refused as a provider failure`() async throws {
        try await withProvider(secret: "not-the-secret") { provider, _ in
            let message = EmailMessage(from: sender, to: [EmailAddress(address: "to@example.com")], subject: "x", text: "x")
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(delivery(message)) }
            #expect(failure.errorClass == .providerFatal)
            #expect(failure.code == "ses_403_SignatureDoesNotMatch")
        }
    }

    @Test func `an unverified sender is rejected as permanent`() async throws {
        try await withProvider { provider, _ in
            let message = EmailMessage(
                from: EmailAddress(address: "someone@unverified.example"), to: [EmailAddress(address: "to@example.com")], subject: "x",
                text: "x"
            )
            let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(delivery(message)) }
            #expect(failure.errorClass == .permanent)
            #expect(failure.code == "ses_400_MessageRejected")
        }
    }
}
