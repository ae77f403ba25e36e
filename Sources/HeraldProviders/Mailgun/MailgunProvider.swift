import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOHTTP1

/// Mailgun through its Messages API (`POST /v3/{domain}/messages`, multipart form, HTTP basic
/// auth as `api` with the API key).
///
/// Every email carries its Herald id as the `X-Herald-Id` header and the `herald_id` user
/// variable, which Mailgun returns in its webhooks and events; tags become `o:tag`.
public struct MailgunProvider: EmailProvider {
    public enum Region: String, Sendable, CaseIterable {
        case us
        case eu

        public var endpoint: String {
            switch self {
            case .us: "https://api.mailgun.net"
            case .eu: "https://api.eu.mailgun.net"
            }
        }
    }

    public struct Configuration: Sendable {
        /// The private API key; never logged.
        public var apiKey: String
        /// The sending domain, as set up in Mailgun.
        public var domain: String
        /// The API's base URL: the region's unless overridden for tests.
        public var endpoint: String
        /// The whole call, request and answer.
        public var timeout: Duration
        /// Mailgun takes messages up to 25 MB; a larger email fails over to another provider.
        public var maxMessageBytes: Int

        public static let defaultMaxMessageBytes = 25_000_000

        public init(
            apiKey: String, domain: String, region: Region = .us, endpoint: String? = nil, timeout: Duration = .seconds(30),
            maxMessageBytes: Int = Self.defaultMaxMessageBytes
        ) {
            self.apiKey = apiKey
            self.domain = domain
            self.endpoint = endpoint ?? region.endpoint
            self.timeout = timeout
            self.maxMessageBytes = maxMessageBytes
        }
    }

    public let name: String
    public var kind: String { "mailgun" }
    private let configuration: Configuration
    private let api: HTTPAPI

    public init(name: String, configuration: Configuration, client: HTTPClient) {
        self.name = name
        self.configuration = configuration
        let credentials = Data("api:\(configuration.apiKey)".utf8).base64EncodedString()
        self.api = HTTPAPI(
            provider: "mailgun", endpoint: configuration.endpoint,
            headers: [("Authorization", "Basic \(credentials)"), ("Accept", "application/json")], client: client,
            timeout: configuration.timeout
        )
    }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let (contentType, body) = MailgunMessage.form(delivery).encoded()
        guard body.count <= configuration.maxMessageBytes else {
            throw ProviderFailure(.failover, code: "mailgun_message_too_large", message: "the message is larger than Mailgun accepts")
        }
        let domain = try domainInPath()
        let answer = try await api.call(
            .POST, "/v3/\(domain)/messages", headers: [("Content-Type", contentType)], body: body, for: delivery)
        guard answer.status == 200 else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body)
        }
        return ProviderReceipt(providerMessageID: (try? JSONDecoder().decode(MailgunResponse.self, from: Data(answer.body)))?.id)
    }

    /// Reads the sending domain (`GET /v4/domains/{name}`), which needs a valid API key, a
    /// reachable API and the domain in this key's account and region, but sends nothing. A
    /// domain sending key may only send, so it fails this check.
    public func verify() async throws -> Bool {
        let domain = try domainInPath()
        let answer = try await api.call(.GET, "/v4/domains/\(domain)")
        guard answer.status == 200 else {
            var failure = Self.classify(status: answer.status, headers: answer.headers, body: answer.body)
            if answer.status == 404 {
                failure.message = "Mailgun has no domain \(configuration.domain) in this account and region (404)"
            }
            throw failure
        }
        return true
    }

    /// The configured domain as one URL path segment.
    private func domainInPath() throws(ProviderFailure) -> String {
        guard
            let domain = configuration.domain.addingPercentEncoding(
                withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
        else {
            throw ProviderFailure(.providerFatal, code: "mailgun_bad_domain", message: "the Mailgun domain cannot be part of a URL")
        }
        return domain
    }
}
