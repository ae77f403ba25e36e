import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOHTTP1

/// Twilio SendGrid through its v3 Mail Send API (`POST /v3/mail/send`, bearer API key).
///
/// Every email carries its Herald id as the `X-Herald-Id` header and the `herald_id` custom
/// argument, which SendGrid returns in its event webhooks; tags become categories.
public struct SendGridProvider: EmailProvider {
    public struct Configuration: Sendable {
        /// Sent as `Authorization: Bearer`; never logged.
        public var apiKey: String
        /// The API's base URL; `https://api.sendgrid.com` unless overridden (EU subusers use
        /// `https://api.eu.sendgrid.com`, tests a local server).
        public var endpoint: String
        /// The whole call, request and answer.
        public var timeout: Duration
        /// SendGrid takes requests up to 30 MB; a larger email fails over to another provider.
        public var maxMessageBytes: Int

        public static let defaultEndpoint = "https://api.sendgrid.com"
        public static let defaultMaxMessageBytes = 30_000_000

        public init(
            apiKey: String, endpoint: String? = nil, timeout: Duration = .seconds(30),
            maxMessageBytes: Int = Self.defaultMaxMessageBytes
        ) {
            self.apiKey = apiKey
            self.endpoint = endpoint ?? Self.defaultEndpoint
            self.timeout = timeout
            self.maxMessageBytes = maxMessageBytes
        }
    }

    public let name: String
    public var kind: String { "sendgrid" }
    private let configuration: Configuration
    private let client: HTTPClient
    private let clock: any WallClock

    public init(name: String, configuration: Configuration, client: HTTPClient, clock: any WallClock = SystemWallClock()) {
        self.name = name
        self.configuration = configuration
        self.client = client
        self.clock = clock
    }

    /// `categories`: comma-separated SendGrid categories for this email, instead of its tags.
    public var supportedOptions: Set<String> { ["categories"] }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let categories = delivery.message.options(for: self)["categories"].map { list in
            list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let body = try JSONEncoder().encode(SendGridMailSendRequest(delivery, categories: categories))
        guard body.count <= configuration.maxMessageBytes else {
            throw ProviderFailure(.failover, code: "sendgrid_message_too_large", message: "the message is larger than SendGrid accepts")
        }
        let call = HTTPAPICall(
            provider: kind,
            url: configuration.endpoint.trimmingSuffix("/") + "/v3/mail/send",
            headers: [("Authorization", "Bearer \(configuration.apiKey)"), ("Content-Type", "application/json")],
            body: Array(body)
        )
        let answer = try await call.perform(client: client, timeout: configuration.timeout)
        guard (200..<300).contains(answer.status) else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body, now: clock.now)
        }
        return ProviderReceipt(providerMessageID: answer.headers.first(name: "X-Message-Id"))
    }
}

extension String {
    /// The string without one trailing `suffix`, so that `https://host/` and `https://host`
    /// make the same URLs.
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
