import Foundation
import HeraldCore
import NIOHTTP1

extension SESProvider {
    /// What an SES error answer means for the email and for the provider.
    ///
    /// From the SES v2 API reference, "SendEmail: Errors" and "Common errors":
    /// - 400 `MessageRejected`, `BadRequestException`: the message is wrong → permanent.
    /// - 400 `AccountSuspendedException`, `SendingPausedException`,
    ///   `MailFromDomainNotVerifiedException`, `LimitExceededException`, 404 `NotFoundException`:
    ///   the account cannot send → provider_fatal.
    /// - 403 (`SignatureDoesNotMatch`, `InvalidClientTokenId`, `AccessDeniedException`,
    ///   `UnrecognizedClientException`): credentials → provider_fatal.
    /// - 413: too large for SES, another provider may take it → failover.
    /// - 429 `TooManyRequestsException`: throttled → transient, honouring `Retry-After`.
    /// - 5xx: SES is failing → transient.
    static func classify(status: UInt, headers: HTTPHeaders, body: [UInt8]) -> ProviderFailure {
        let type = errorType(headers: headers, body: body)
        let code = "ses_\(status)" + (type.map { "_\($0)" } ?? "")
        let message = "SES answered \(status)" + (type.map { " \($0)" } ?? "")
        let providerFatalTypes: Set<String> = [
            "AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException",
            "LimitExceededException", "NotFoundException",
        ]
        switch status {
        case 400 where type.map(providerFatalTypes.contains) == true, 401, 403, 404:
            return ProviderFailure(.providerFatal, code: code, message: message)
        case 413:
            return ProviderFailure(.failover, code: code, message: message)
        case 429:
            return ProviderFailure(.transient, code: code, message: message, retryAfter: headers.retryAfterSeconds)
        case 400..<500:
            return ProviderFailure(.permanent, code: code, message: message)
        default:
            return ProviderFailure(.transient, code: code, message: message)
        }
    }

    /// The error's type: from the `X-Amzn-ErrorType` header (`Type:namespace`), a JSON body's
    /// `__type` or `code`, or an XML body's `<Code>`.
    static func errorType(headers: HTTPHeaders, body: [UInt8]) -> String? {
        if let header = headers.first(name: "X-Amzn-ErrorType"), let type = header.split(separator: ":").first {
            return String(type)
        }
        if let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let type = (json["__type"] ?? json["code"] ?? json["Code"]) as? String
        {
            return String(type.split(separator: "#").last ?? Substring(type))
        }
        let text = String(decoding: body, as: UTF8.self)
        if let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>", range: start.upperBound..<text.endIndex) {
            return String(text[start.upperBound..<end.lowerBound])
        }
        return nil
    }
}
