import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import Testing

/// Runs `body` with an HTTP client of its own and shuts the client down afterwards.
func withHTTPClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .forProviders)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

extension FakeProviderServer {
    /// The one request received, once it has passed the check of the provider's format.
    func onlyRequest() throws -> RecordedRequest {
        #expect(problems == [])
        #expect(requests.count == 1)
        return try #require(requests.first)
    }
}

/// What a provider's check threw, once it has made one request in the documented format and
/// kept `secret` out of the failure's message.
func checkFailure(of provider: some EmailProvider, on server: FakeProviderServer, secret: String) async throws -> ProviderFailure {
    let failure = try await #require(throws: ProviderFailure.self) { _ = try await provider.verify() }
    _ = try server.onlyRequest()
    #expect(!failure.message.contains(secret))
    return failure
}

enum Samples {
    static let from = EmailAddress(displayName: "Ada Lovelace", address: "ada@herald-test.example")
    static let to = EmailAddress(displayName: "Bob", address: "bob@example.com")
    static let cc = EmailAddress(address: "carol@example.com")
    static let bcc = EmailAddress(address: "dave@example.com")
    static let replyTo = EmailAddress(address: "replies@herald-test.example")
    static let attachmentBytes = Data("attached bytes".utf8)
    static let imageBytes = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A])

    /// An email that uses every field Herald has.
    static func fullDelivery() -> Delivery {
        let message = EmailMessage(
            from: from, to: [to], cc: [cc], bcc: [bcc], replyTo: [replyTo],
            subject: "Your receipt", text: "Plain body", html: "<p>HTML body <img src=\"cid:logo\"></p>",
            headers: ["X-Campaign": "spring"],
            attachments: [
                Attachment(filename: "receipt.txt", contentType: "text/plain", content: attachmentBytes),
                Attachment(filename: "logo.png", contentType: "image/png", content: imageBytes, contentID: "logo"),
            ],
            tags: ["receipts", "billing"],
            metadata: ["order": "1234"]
        )
        return Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    /// A plain email with a large attachment, for the size limit.
    static func largeDelivery(bytes: Int) -> Delivery {
        let message = EmailMessage(
            from: from, to: [to], subject: "Large", text: "See attached",
            attachments: [Attachment(filename: "big.bin", contentType: "application/octet-stream", content: Data(count: bytes))]
        )
        return Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date())
    }

    /// Strings that must never appear in a failure's message.
    static let secrets = [from.address, to.address, cc.address, bcc.address, "Your receipt", "Plain body"]
}
