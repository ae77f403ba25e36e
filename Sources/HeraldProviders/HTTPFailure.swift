import AsyncHTTPClient
import HeraldCore
import NIOCore
import NIOPosix

/// Classifies errors of HTTP calls to a provider's API that got no answer.
enum HTTPFailure {
    /// A call that failed before the whole request went out cannot have delivered the email,
    /// so another attempt is safe (transient): a refused or reset connection, a name that does
    /// not resolve, a TLS handshake that stalls, a reset in the middle of the body. Once the
    /// whole request is out, a reset, a close or silence until the deadline may come after
    /// the provider took the email, so the outcome is unknown (ambiguous).
    static func classify(_ error: any Error, provider: String, requestSent: Bool) -> ProviderFailure {
        if let failure = error as? ProviderFailure { return failure }
        let timedOut = [.deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout].contains(
            error as? HTTPClientError)
        guard requestSent else {
            return ProviderFailure(
                .transient, code: "\(provider)_connect_failed",
                message: "could not send the request to \(provider): \(timedOut ? "timed out" : "\(type(of: error))")")
        }
        if timedOut {
            return ProviderFailure(.ambiguous, code: "timeout", message: "\(provider) did not answer in time")
        }
        return ProviderFailure(.ambiguous, code: "connection_closed", message: "\(provider) closed the connection before answering")
    }
}
