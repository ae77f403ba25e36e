import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1

/// One request to a provider's HTTP API and the answer it got, shared by the adapters that
/// speak JSON or forms over HTTPS. Calls that get no answer are classified by ``HTTPFailure``.
struct HTTPAPICall: Sendable {
    struct Answer: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// The provider's kind, used in failure codes such as `sendgrid_connect_failed`.
    var provider: String
    var method: HTTPMethod = .POST
    var url: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// Provider answers are small: an id or a list of errors. Longer ones are cut here.
    static let maxAnswerBytes = 1024 * 1024

    /// Sends the request and reads the answer, within `timeout` and by `deadline` when a
    /// delivery makes the call.
    func perform(client: HTTPClient, timeout: Duration, by deadline: ContinuousClock.Instant?) async throws(ProviderFailure) -> Answer {
        let timeout = min(timeout, deadline?.timeLeft ?? timeout)
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let answer = try await response.body.collect(upTo: Self.maxAnswerBytes)
            return Answer(status: response.status.code, headers: response.headers, body: Array(answer.readableBytesView))
        } catch {
            throw HTTPFailure.classify(error, provider: provider)
        }
    }
}

extension HTTPHeaders {
    /// `Retry-After` given in seconds (RFC 9110 §10.2.3), the form the mail APIs use.
    var retryAfterSeconds: Duration? {
        first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { .seconds(Swift.max(0, $0)) }
    }
}
