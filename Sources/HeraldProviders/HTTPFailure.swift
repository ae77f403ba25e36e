import AsyncHTTPClient
import HeraldCore
import NIOCore
import NIOPosix

/// Classifies errors of HTTP calls to a provider's API that got no answer.
enum HTTPFailure {
    /// A failure to connect means the request never left, so another attempt is safe
    /// (transient). A timeout or a dropped connection after connecting may come after the
    /// provider took the email, so its outcome is unknown (ambiguous).
    static func classify(_ error: any Error, provider: String) -> ProviderFailure {
        if let failure = error as? ProviderFailure { return failure }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .socksHandshakeTimeout, .tlsHandshakeTimeout:
                return ProviderFailure(.transient, code: "\(provider)_connect_failed", message: "could not connect to \(provider)")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return ProviderFailure(.ambiguous, code: "timeout", message: "\(provider) did not answer in time")
            case .remoteConnectionClosed:
                return ProviderFailure(.ambiguous, code: "connection_closed", message: "\(provider) closed the connection before answering")
            default:
                return ProviderFailure(.transient, code: "\(provider)_http_error", message: "the call to \(provider) failed: \(error)")
            }
        }
        if error is NIOConnectionError || error is ChannelError || error is IOError {
            return ProviderFailure(.transient, code: "\(provider)_connect_failed", message: "could not connect to \(provider)")
        }
        return ProviderFailure(
            .transient, code: "\(provider)_unexpected_error", message: "the call to \(provider) failed with \(type(of: error))")
    }
}
