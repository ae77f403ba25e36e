import AsyncHTTPClient
import HeraldCore
import NIOHTTP1

/// A provider's HTTP API as an adapter calls it: where it is, the headers every call carries
/// (the credentials, `Accept`), and the client and timeout. An adapter's send and its check
/// reach the same API with the same credentials, so they build their calls from one of these.
struct HTTPAPI: Sendable {
    /// The provider's kind, used in failure codes such as `sendgrid_connect_failed`.
    var provider: String
    /// The base URL, with or without a trailing slash.
    var endpoint: String
    var headers: [(name: String, value: String)]
    var client: HTTPClient
    var timeout: Duration

    /// Calls the API, within the configured timeout and, when a delivery makes the call, by
    /// its deadline.
    func call(
        _ method: HTTPMethod, _ path: String, headers extra: [(name: String, value: String)] = [], body: [UInt8] = [],
        for delivery: Delivery? = nil
    ) async throws(ProviderFailure) -> HTTPAPICall.Answer {
        let call = HTTPAPICall(
            provider: provider, method: method, url: endpoint.trimmingSuffix("/") + path, headers: headers + extra, body: body)
        return try await call.perform(client: client, timeout: timeout, by: delivery?.deadline)
    }
}

extension String {
    /// The string without one trailing `suffix`, so that `https://host/` and `https://host`
    /// make the same URLs.
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
