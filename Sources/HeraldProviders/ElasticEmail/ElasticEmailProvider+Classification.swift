import HeraldCore
import NIOHTTP1

extension ElasticEmailProvider {
    /// What an Elastic Email error answer means for the email and for the provider.
    ///
    /// The REST API v4 reference
    /// (https://elasticemail.com/developers/api-documentation/rest-api#operation/emailsTransactionalPost,
    /// models in the official SDK docs: https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/EmailsApi.md)
    /// lists no per-status error table that we could find, so the classes follow HTTP semantics:
    /// - 400 bad request → permanent.
    /// - 401 missing or wrong API key, 403 key without the "Send Email" access level,
    ///   404 wrong endpoint → provider_fatal.
    /// - 413 too large → failover.
    /// - 429 too many requests → transient, honouring `Retry-After`.
    /// - 5xx → transient. Any other 4xx → permanent.
    ///
    /// The body's `Error` text is not copied: it can quote addresses.
    static func classify(status: UInt, headers: HTTPHeaders, body: [UInt8]) -> ProviderFailure {
        let code = "elasticemail_\(status)"
        switch status {
        case 401, 403, 404:
            return ProviderFailure(.providerFatal, code: code, message: "Elastic Email refused the API key (\(status))")
        case 413:
            return ProviderFailure(.failover, code: code, message: "Elastic Email refused the message as too large")
        case 429:
            return ProviderFailure(.transient, code: code, message: "Elastic Email is rate limiting", retryAfter: headers.retryAfterSeconds)
        case 400..<500:
            return ProviderFailure(.permanent, code: code, message: "Elastic Email rejected the message (\(status))")
        default:
            return ProviderFailure(
                .transient, code: code, message: "Elastic Email answered \(status)", retryAfter: headers.retryAfterSeconds)
        }
    }
}
