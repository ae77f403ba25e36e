import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1
import Synchronization

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
        let collector = AnswerCollector()
        do {
            var request = try HTTPClient.Request(url: url, method: method, body: body.isEmpty ? nil : .bytes(body))
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let task = client.execute(request: request, delegate: collector, deadline: .now() + .nanoseconds(timeout.nanoseconds))
            let answer = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            guard !(300..<400).contains(answer.status) else { throw redirectRefused(answer.status) }
            return answer
        } catch let failure as ProviderFailure {
            throw failure
        } catch {
            throw HTTPFailure.classify(error, provider: provider, requestSent: collector.requestSent)
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

/// Collects a provider's answer, and notes whether the whole request went out before it: a call
/// that fails before that cannot have delivered the email, one that fails after may have.
private final class AnswerCollector: HTTPClientResponseDelegate {
    private struct State {
        var requestSent = false
        var head: HTTPResponseHead?
        var body: [UInt8] = []
    }

    private let state = Mutex(State())

    var requestSent: Bool { state.withLock { $0.requestSent } }

    func didSendRequest(task: HTTPClient.Task<HTTPAPICall.Answer>) {
        state.withLock { $0.requestSent = true }
    }

    func didReceiveHead(task: HTTPClient.Task<HTTPAPICall.Answer>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        // An answer means the request arrived, even if the server answers before reading all of it.
        state.withLock {
            $0.requestSent = true
            $0.head = head
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<HTTPAPICall.Answer>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        state.withLock { state in
            // Provider answers are small; the rest of a long one is not read into memory.
            state.body.append(contentsOf: buffer.readableBytesView.prefix(HTTPAPICall.maxAnswerBytes - state.body.count))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<HTTPAPICall.Answer>) throws -> HTTPAPICall.Answer {
        try state.withLock { state in
            guard let head = state.head else { throw HTTPClientError.remoteConnectionClosed }
            return HTTPAPICall.Answer(status: head.status.code, headers: head.headers, body: state.body)
        }
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
