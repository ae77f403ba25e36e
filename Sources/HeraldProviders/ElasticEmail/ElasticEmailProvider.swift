import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOHTTP1

/// Elastic Email through its REST API v4 (`POST /v4/emails/transactional`,
/// `X-ElasticEmail-ApiKey`).
///
/// Every email carries its Herald id as the `X-Herald-Id` header and as `Postback`, which
/// Elastic Email returns in its notifications; the first tag becomes the channel name. Emails
/// with inline (`cid:`) attachments fail over: the v4 API has no content ids.
public struct ElasticEmailProvider: EmailProvider {
    public struct Configuration: Sendable {
        /// The API key; never logged.
        public var apiKey: String
        /// The API's base URL; `https://api.elasticemail.com` unless overridden for tests.
        public var endpoint: String
        /// The whole call, request and answer.
        public var timeout: Duration
        /// The largest request sent; a larger email fails over to another provider.
        public var maxMessageBytes: Int

        public static let defaultEndpoint = "https://api.elasticemail.com"
        /// Elastic Email publishes no per-message limit for the v4 API that we could find; 20 MB
        /// is a conservative default that operators can change.
        public static let defaultMaxMessageBytes = 20_000_000

        public init(
            apiKey: String, endpoint: String? = nil, timeout: Duration = .seconds(30), maxMessageBytes: Int = Self.defaultMaxMessageBytes
        ) {
            self.apiKey = apiKey
            self.endpoint = endpoint ?? Self.defaultEndpoint
            self.timeout = timeout
            self.maxMessageBytes = maxMessageBytes
        }
    }

    public let name: String
    public var kind: String { "elasticemail" }
    private let configuration: Configuration
    private let api: HTTPAPI

    public init(name: String, configuration: Configuration, client: HTTPClient) {
        self.name = name
        self.configuration = configuration
        self.api = HTTPAPI(
            provider: "elasticemail", endpoint: configuration.endpoint,
            headers: [("X-ElasticEmail-ApiKey", configuration.apiKey), ("Accept", "application/json")], client: client,
            timeout: configuration.timeout
        )
    }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        // v4 attachments carry no content id, so `cid:` references in the HTML would break.
        guard delivery.message.attachments.allSatisfy({ $0.contentID == nil }) else {
            throw ProviderFailure(
                .failover, code: "elasticemail_inline_unsupported", message: "Elastic Email's API cannot send inline (cid:) attachments"
            )
        }
        let body = try JSONEncoder().encode(ElasticEmailTransactionalRequest(delivery))
        guard body.count <= configuration.maxMessageBytes else {
            throw ProviderFailure(
                .failover, code: "elasticemail_message_too_large", message: "the message is larger than Elastic Email is set to take"
            )
        }
        let answer = try await api.call(
            .POST, "/v4/emails/transactional", headers: [("Content-Type", "application/json")], body: Array(body), for: delivery)
        guard answer.status == 200 else {
            throw Self.classify(status: answer.status, headers: answer.headers, body: answer.body)
        }
        let response = try? JSONDecoder().decode(ElasticEmailSendResponse.self, from: Data(answer.body))
        return ProviderReceipt(providerMessageID: response?.messageID ?? response?.transactionID)
    }

    /// Lists the account's domains (`GET /v4/domains`), which needs a valid API key and a
    /// reachable API but sends nothing. Every read the v4 API documents, but for viewing one
    /// message by its id, needs an access level beyond SendHttp; this one, without parameters,
    /// needs ViewSettings.
    public func verify() async throws -> Bool {
        let answer = try await api.call(.GET, "/v4/domains")
        guard answer.status == 200 else {
            var failure = Self.classify(status: answer.status, headers: answer.headers, body: answer.body)
            if answer.status == 403 {
                failure.message =
                    "Elastic Email refused the API key (403): the check lists the domains, which needs the ViewSettings access level"
            }
            throw failure
        }
        return true
    }
}
