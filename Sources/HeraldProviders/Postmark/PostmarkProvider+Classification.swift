import Foundation
import HeraldCore
import NIOHTTP1

extension PostmarkProvider {
    /// Postmark API error codes (the `ErrorCode` of a 422 body) that mean the account, token or
    /// sender setup is broken, so no email can go through this provider until someone fixes it:
    /// 10 bad or missing token, 400 sender signature not found, 401 sender signature not
    /// confirmed, 405 not allowed to send (out of credits), 412 account pending approval,
    /// 413 recipient not allowed while pending, 1235 unknown message stream.
    static let providerFatalErrorCodes: Set<Int> = [10, 400, 401, 405, 412, 413, 1235]

    /// What a Postmark error answer means for the email and for the provider.
    ///
    /// From "API overview: HTTP response codes and API error codes"
    /// (https://postmarkapp.com/developer/api/overview) and the Email API reference
    /// (https://postmarkapp.com/developer/api/email-api):
    /// - 422 `ErrorCode` 406 inactive recipient (bounced, complained or unsubscribed): the
    ///   recipient is suppressed → recipient, not failover, so that another provider does not
    ///   mail an address that bounced or complained.
    /// - 422 with a code in ``providerFatalErrorCodes``, 401 (token), 404 (endpoint) → provider_fatal.
    /// - 422 `ErrorCode` 300 invalid email request, 411 forbidden attachment type, any other
    ///   422 code → permanent.
    /// - 413 payload too large (10 MB): another provider may take it → failover.
    /// - 429 rate limited, 500 internal error, 503 maintenance → transient, honouring `Retry-After`.
    static func classify(status: UInt, headers: HTTPHeaders, body: [UInt8]) -> ProviderFailure {
        let errorCode = (try? JSONDecoder().decode(PostmarkResponse.self, from: Data(body)))?.errorCode
        let code = "postmark_\(status)" + (errorCode.map { "_\($0)" } ?? "")
        let described = "Postmark answered \(status)" + (errorCode.map { " with error code \($0)" } ?? "")
        switch (status, errorCode) {
        case (_, 406?):
            return ProviderFailure(
                .recipient, code: code, message: "Postmark has marked a recipient inactive (bounced, complained or unsubscribed)")
        case (_, let errorCode?) where providerFatalErrorCodes.contains(errorCode) && status != 413:
            return ProviderFailure(.providerFatal, code: code, message: described)
        case (401, _), (403, _), (404, _):
            return ProviderFailure(.providerFatal, code: code, message: described)
        case (413, _):
            return ProviderFailure(.failover, code: code, message: "Postmark refused the message as too large")
        case (429, _):
            return ProviderFailure(.transient, code: code, message: described, retryAfter: headers.retryAfterSeconds)
        case (400..<500, _):
            return ProviderFailure(.permanent, code: code, message: described)
        default:
            return ProviderFailure(.transient, code: code, message: described, retryAfter: headers.retryAfterSeconds)
        }
    }
}
