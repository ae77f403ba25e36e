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
            guard !(300..<400).contains(response.status.code) else { throw redirectRefused(response.status.code) }
            return Answer(status: response.status.code, headers: response.headers, body: Array(answer.readableBytesView))
        } catch let failure as ProviderFailure {
            throw failure
        } catch {
            throw HTTPFailure.classify(error, provider: provider)
        }
    }

    /// A provider's API never redirects a send; one that does is misconfigured or not the
    /// provider, and following it would hand the credentials to another host.
    private func redirectRefused(_ status: UInt) -> ProviderFailure {
        ProviderFailure(
            .providerFatal, code: "\(provider)_redirect_refused",
            message: "the provider answered \(status), a redirect, which Herald does not follow; check its endpoint")
    }
}

extension HTTPClient.Configuration {
    /// The configuration of the client that calls providers: redirects are never followed
    /// (AsyncHTTPClient strips only `Authorization` on a redirect to another host, and Postmark's
    /// and Elastic Email's tokens travel in headers of their own).
    public static var forProviders: Self {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(3)))
        configuration.redirectConfiguration = .disallow
        return configuration
    }
}

extension HTTPHeaders {
    /// `Retry-After` given in seconds (RFC 9110 §10.2.3), the form the mail APIs use; a day at
    /// most, whatever the provider says.
    var retryAfterSeconds: Duration? {
        first(name: "Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.flatMap {
            CheckedNumber.waitHint(seconds: $0)
        }
    }
}
