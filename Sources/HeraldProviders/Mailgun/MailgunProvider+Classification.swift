import HeraldCore
import NIOHTTP1

extension MailgunProvider {
    /// What a Mailgun error answer means for the email and for the provider.
    ///
    /// From the Messages API reference
    /// (https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages)
    /// and "API response codes" (https://documentation.mailgun.com/docs/mailgun/api-reference/api-overview):
    /// - 400 bad request (a parameter is missing or wrong) → permanent.
    /// - 401 bad API key, 403 not allowed (domain disabled or not verified), 404 unknown domain
    ///   or endpoint → provider_fatal: no email can go through until the setup is fixed.
    /// - 413 the message is too large → failover.
    /// - 429 rate limited → transient, honouring `Retry-After`.
    /// - 5xx → transient. Any other 4xx → permanent.
    ///
    /// Mailgun's `message` text is not copied: it can quote parameters, which hold addresses.
    static func classify(status: UInt, headers: HTTPHeaders, body: [UInt8]) -> ProviderFailure {
        let code = "mailgun_\(status)"
        switch status {
        case 401, 403, 404:
            return ProviderFailure(.providerFatal, code: code, message: "Mailgun refused the API key or domain (\(status))")
        case 413:
            return ProviderFailure(.failover, code: code, message: "Mailgun refused the message as too large")
        case 429:
            return ProviderFailure(.transient, code: code, message: "Mailgun is rate limiting", retryAfter: headers.retryAfterSeconds)
        case 400..<500:
            return ProviderFailure(.permanent, code: code, message: "Mailgun rejected the message (\(status))")
        default:
            return ProviderFailure(.transient, code: code, message: "Mailgun answered \(status)", retryAfter: headers.retryAfterSeconds)
        }
    }
}
