import Foundation
import HeraldCore
import Hummingbird
import Logging

/// Turns every error into the JSON error shape: Hummingbird's own (unknown route, body too
/// large) get a code from their status; anything unexpected is logged and answered 500
/// without detail.
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.response(for: error, to: request, context: context)
        }
    }

    /// The error answer for `error`.
    static func response(for error: any Error, to request: Request, context: some RequestContext) throws -> Response {
        switch error {
        case let error as APIError:
            return try error.response(from: request, context: context)
        case let error as HTTPError:
            return try apiError(for: error).response(from: request, context: context)
        case let error as StoreError where error.code == .unavailable:
            // The store failed or did not answer in time: the request may succeed in a moment.
            context.logger.error("request failed: store unavailable", metadata: ["error": "\(error)"])
            return try APIError(
                .serviceUnavailable, code: "store_unavailable", message: "Herald's store did not answer; retry",
                headers: [.retryAfter: "1"]
            ).response(from: request, context: context)
        case let error as any HTTPResponseError:
            // Errors of Hummingbird's dependencies that carry a status, such as NIO's
            // too-many-bytes error from collecting a body over the limit.
            return try apiError(for: HTTPError(error.status)).response(from: request, context: context)
        default:
            context.logger.error("request failed", metadata: ["error.type": "\(type(of: error))"])
            return try APIError(.internalServerError, code: "internal_error", message: "Herald could not handle the request")
                .response(from: request, context: context)
        }
    }

    static func apiError(for error: HTTPError) -> APIError {
        switch error.status {
        case .notFound: APIError(.notFound, code: "not_found", message: "no such resource")
        case .contentTooLarge:
            APIError(.contentTooLarge, code: "payload_too_large", message: "the request body is larger than this server accepts")
        default:
            APIError(
                error.status,
                code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                message: error.body ?? error.status.reasonPhrase,
                headers: error.headers
            )
        }
    }
}
