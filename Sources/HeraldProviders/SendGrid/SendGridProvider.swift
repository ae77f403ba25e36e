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
    private let api: HTTPAPI
    private let clock: any WallClock

    public init(name: String, configuration: Configuration, client: HTTPClient, clock: any WallClock = SystemWallClock()) {
        self.name = name
        self.configuration = configuration
        self.api = HTTPAPI(
            provider: "sendgrid", endpoint: configuration.endpoint, headers: [("Authorization", "Bearer \(configuration.apiKey)")],
            client: client, timeout: configuration.timeout
        )
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
        let answer = try await api.call(
            .POST, "/v3/mail/send", headers: [("Content-Type", "application/json")], body: Array(body), for: delivery)
        guard (200..<300).contains(answer.status) else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body, now: clock.now)
        }
        return ProviderReceipt(providerMessageID: answer.headers.first(name: "X-Message-Id"))
    }

    /// Reads the API key's scopes (`GET /v3/scopes`), which needs a valid key and a reachable
    /// API but sends nothing. A key without `mail.send` passes SendGrid's authentication yet
    /// could not send a single email, so the check fails it.
    public func verify() async throws -> Bool {
        let answer = try await api.call(.GET, "/v3/scopes")
        guard answer.status == 200 else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body, now: clock.now)
        }
        guard let scopes = try? JSONDecoder().decode(SendGridScopesResponse.self, from: Data(answer.body)).scopes else {
            throw ProviderFailure(
                .transient, code: "sendgrid_unreadable_answer", message: "SendGrid answered with scopes that Herald cannot read")
        }
        guard scopes.contains("mail.send") else {
            throw ProviderFailure(
                .providerFatal, code: "sendgrid_missing_mail_send",
                message: "the SendGrid API key lacks the mail.send scope, so it cannot send")
        }
        return true
    }
}
