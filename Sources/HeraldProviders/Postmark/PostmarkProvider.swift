import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOHTTP1

/// Postmark through its Email API (`POST /email`, `X-Postmark-Server-Token`).
///
/// Every email carries its Herald id as the `X-Herald-Id` header and the `herald_id` metadata
/// field, which Postmark returns in its webhooks; the first tag becomes Postmark's `Tag`.
public struct PostmarkProvider: EmailProvider {
    public struct Configuration: Sendable {
        /// The server token; never logged.
        public var serverToken: String
        /// The API's base URL; `https://api.postmarkapp.com` unless overridden for tests.
        public var endpoint: String
        /// The message stream to send through; Postmark's transactional default is `outbound`.
        public var messageStream: String
        /// The whole call, request and answer.
        public var timeout: Duration
        /// Postmark takes requests up to 10 MB; a larger email fails over to another provider.
        public var maxMessageBytes: Int

        public static let defaultEndpoint = "https://api.postmarkapp.com"
        public static let defaultMessageStream = "outbound"
        public static let defaultMaxMessageBytes = 10_000_000

        public init(
            serverToken: String, endpoint: String? = nil, messageStream: String = Self.defaultMessageStream,
            timeout: Duration = .seconds(30), maxMessageBytes: Int = Self.defaultMaxMessageBytes
        ) {
            self.serverToken = serverToken
            self.endpoint = endpoint ?? Self.defaultEndpoint
            self.messageStream = messageStream
            self.timeout = timeout
            self.maxMessageBytes = maxMessageBytes
        }
    }

    public let name: String
    public var kind: String { "postmark" }
    private let configuration: Configuration
    private let api: HTTPAPI

    public init(name: String, configuration: Configuration, client: HTTPClient) {
        self.name = name
        self.configuration = configuration
        self.api = HTTPAPI(
            provider: "postmark", endpoint: configuration.endpoint,
            headers: [("X-Postmark-Server-Token", configuration.serverToken), ("Accept", "application/json")], client: client,
            timeout: configuration.timeout
        )
    }

    /// `message_stream`: the Postmark message stream for this email, instead of the configured one.
    public var supportedOptions: Set<String> { ["message_stream"] }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let stream = delivery.message.options(for: self)["message_stream"] ?? configuration.messageStream
        let body = try JSONEncoder().encode(PostmarkEmailRequest(delivery, messageStream: stream))
        guard body.count <= configuration.maxMessageBytes else {
            throw ProviderFailure(.failover, code: "postmark_message_too_large", message: "the message is larger than Postmark accepts")
        }
        let answer = try await api.call(.POST, "/email", headers: [("Content-Type", "application/json")], body: Array(body), for: delivery)
        let response = try? JSONDecoder().decode(PostmarkResponse.self, from: Data(answer.body))
        guard answer.status == 200, (response?.errorCode ?? 0) == 0 else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body)
        }
        return ProviderReceipt(providerMessageID: response?.messageID)
    }

    /// Reads the server's settings (`GET /server`), which needs a valid server token and a
    /// reachable API but sends nothing.
    public func verify() async throws -> Bool {
        let answer = try await api.call(.GET, "/server")
        guard answer.status == 200 else { throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body) }
        return true
    }
}
