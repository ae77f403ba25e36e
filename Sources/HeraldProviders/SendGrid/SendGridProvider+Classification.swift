import Foundation
import HeraldCore
import NIOHTTP1

extension SendGridProvider {
    /// What a SendGrid error answer means for the email and for the provider.
    ///
    /// From the v3 Mail Send reference
    /// (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send) and "Responses"
    /// (https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses):
    /// - 400 with `errors[{message, field}]`: the request is wrong → permanent. The code names
    ///   no field values; the message lists the fields SendGrid named, never its text (which can
    ///   quote addresses).
    /// - 401 (bad key), 403 (key without Mail Send, unverified sender, sending blocked): the
    ///   account cannot send → provider_fatal. 404 means a wrong endpoint → provider_fatal.
    /// - 413 payload too large: another provider may take it → failover.
    /// - 429 rate limited → transient, until `X-RateLimit-Reset` (epoch seconds, read against
    ///   `now`) or `Retry-After`.
    /// - 5xx → transient. Any other 4xx → permanent.
    static func classify(status: UInt, headers: HTTPHeaders, body: [UInt8], now: Date) -> ProviderFailure {
        let code = "sendgrid_\(status)"
        switch status {
        case 401, 403, 404:
            return ProviderFailure(.providerFatal, code: code, message: "SendGrid refused the API key or account (\(status))")
        case 413:
            return ProviderFailure(.failover, code: code, message: "SendGrid refused the message as too large")
        case 429:
            return ProviderFailure(
                .transient, code: code, message: "SendGrid is rate limiting", retryAfter: retryAfter(headers: headers, now: now)
            )
        case 400..<500:
            let fields = (try? JSONDecoder().decode(SendGridErrorResponse.self, from: Data(body)))?.errors.compactMap(\.field) ?? []
            let detail = fields.isEmpty ? "" : " (fields: \(fields.joined(separator: ", ")))"
            return ProviderFailure(.permanent, code: code, message: "SendGrid rejected the message\(detail)")
        default:
            return ProviderFailure(.transient, code: code, message: "SendGrid answered \(status)")
        }
    }

    /// How long to wait: until the `X-RateLimit-Reset` time, else `Retry-After`.
    static func retryAfter(headers: HTTPHeaders, now: Date) -> Duration? {
        if let reset = headers.first(name: "X-RateLimit-Reset").flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
            return CheckedNumber.waitHint(seconds: max(0, (reset - now.timeIntervalSince1970).rounded(.up)))
        }
        return headers.retryAfterSeconds
    }
}
