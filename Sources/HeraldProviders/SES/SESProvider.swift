import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1

/// Amazon SES through its v2 API (`POST /v2/email/outbound-emails`), signed with AWS
/// Signature Version 4.
///
/// Emails without attachments or custom headers go as `Simple` content, which SES renders
/// itself; the others as `Raw` MIME built by ``MIMEMessage``. Every email carries its Herald id
/// as the `X-Herald-Id` header and the `herald_id` message tag, so that SES events can be
/// matched to it.
public struct SESProvider: EmailProvider {
    public struct Configuration: Sendable {
        public var region: String
        /// The API's base URL; `https://email.<region>.amazonaws.com` unless overridden for tests.
        public var endpoint: String
        public var credentials: AWSSignatureV4.Credentials
        public var configurationSetName: String?
        /// The whole call, request and answer.
        public var timeout: Duration
        /// SES takes messages up to 40 MB once encoded.
        public var maxMessageBytes: Int

        public init(
            region: String, endpoint: String? = nil, credentials: AWSSignatureV4.Credentials, configurationSetName: String? = nil,
            timeout: Duration = .seconds(30), maxMessageBytes: Int = 40_000_000
        ) {
            self.region = region
            self.endpoint = endpoint ?? "https://email.\(region).amazonaws.com"
            self.credentials = credentials
            self.configurationSetName = configurationSetName
            self.timeout = timeout
            self.maxMessageBytes = maxMessageBytes
        }
    }

    public let name: String
    public var kind: String { "ses" }
    private let configuration: Configuration
    private let client: HTTPClient
    private let signer: AWSSignatureV4
    private let clock: any WallClock

    public init(name: String, configuration: Configuration, client: HTTPClient, clock: any WallClock = SystemWallClock()) {
        self.name = name
        self.configuration = configuration
        self.client = client
        self.clock = clock
        self.signer = AWSSignatureV4(credentials: configuration.credentials, region: configuration.region, service: "ses")
    }

    /// `configuration_set`: the SES configuration set for this email, instead of the configured one.
    public var supportedOptions: Set<String> { ["configuration_set"] }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let configurationSet = delivery.message.options(for: self)["configuration_set"] ?? configuration.configurationSetName
        let body = try JSONEncoder().encode(SESSendEmailRequest(delivery, configurationSetName: configurationSet))
        guard body.count <= configuration.maxMessageBytes else {
            throw ProviderFailure(.failover, code: "ses_message_too_large", message: "the message is larger than SES accepts")
        }
        let (status, headers, answer) = try await call(method: .POST, path: "/v2/email/outbound-emails", body: Array(body), for: delivery)
        guard status == 200 else { throw Self.classify(status: status, headers: headers, body: answer) }
        let messageID = (try? JSONDecoder().decode(SESSendEmailResponse.self, from: Data(answer)))?.messageID
        return ProviderReceipt(providerMessageID: messageID)
    }

    /// Reads the account's sending quota, which needs valid credentials (and the
    /// `ses:GetAccount` permission) and a reachable endpoint, but sends nothing.
    public func verify() async throws -> Bool {
        _ = try await sendQuota()
        return true
    }

    /// SES's sending quota, for routing: a negative `Max24HourSend` means unlimited. Each
    /// number is bounded, so that no answer can overflow the router's sums.
    public func reportedLimits() async throws -> ReportedLimits? {
        let quota = try await sendQuota()
        return ReportedLimits(
            maxPer24Hours: CheckedNumber.count(quota.max24HourSend),
            sentLast24Hours: CheckedNumber.count(quota.sentLast24Hours) ?? 0,
            maxSendRate: (0.001...1_000_000).contains(quota.maxSendRate) ? quota.maxSendRate : nil)
    }

    /// The account's sending limits (`GET /v2/email/account`).
    public func sendQuota() async throws -> SESSendQuota {
        let (status, headers, answer) = try await call(method: .GET, path: "/v2/email/account", body: [])
        guard status == 200 else { throw Self.classify(status: status, headers: headers, body: answer) }
        do {
            return try JSONDecoder().decode(SESAccount.self, from: Data(answer)).sendQuota
        } catch {
            throw ProviderFailure(
                .transient, code: "ses_unreadable_answer", message: "SES answered with an account that Herald cannot read")
        }
    }

    private func call(
        method: HTTPMethod, path: String, body: [UInt8], for delivery: Delivery? = nil
    ) async throws -> (UInt, HTTPHeaders, [UInt8]) {
        guard let url = URL(string: configuration.endpoint + path), let host = url.host else {
            throw ProviderFailure(.providerFatal, code: "ses_bad_endpoint", message: "the SES endpoint is not a URL")
        }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        var headers: [(name: String, value: String)] = [("Host", hostHeader)]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        headers += signer.signatureHeaders(
            for: .init(method: method.rawValue, host: hostHeader, path: url.path, headers: headers, body: body), at: clock.now
        )
        let answer = try await HTTPAPICall(provider: "ses", method: method, url: url.absoluteString, headers: headers, body: body)
            .perform(client: client, timeout: configuration.timeout, by: delivery?.deadline)
        return (answer.status, answer.headers, answer.body)
    }
}
