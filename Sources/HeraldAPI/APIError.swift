// HeraldAPI is Herald's HTTP interface: it validates what clients send, hands accepted emails
// to the store, and shows emails, their history and the providers' health.
import Foundation
import Hummingbird

/// An error answer: `{"error": {"code", "message", "details": [{"field", "code", "message"}]}}`.
///
/// Every problem a client causes ends in one of these, with a 4xx status and a stable code.
public struct APIError: Error, HTTPResponseError, Sendable {
    public struct FieldProblem: Encodable, Sendable, Equatable {
        public var field: String
        public var code: String
        public var message: String

        public init(field: String, code: String, message: String) {
            self.field = field
            self.code = code
            self.message = message
        }
    }

    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: [FieldProblem]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [FieldProblem] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public static func validationFailed(_ details: [FieldProblem]) -> APIError {
        let count = details.count
        return APIError(
            .unprocessableContent,
            code: "validation_failed",
            message: count == 1 ? "1 field is invalid" : "\(count) fields are invalid",
            details: details
        )
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "\(what) was not found")
    }

    /// A request with the same `Idempotency-Key` is being handled, or took the key over from
    /// this one.
    static let idempotencyKeyInProgress = APIError(
        .conflict, code: "idempotency_key_in_progress",
        message: "a request with this Idempotency-Key is still being handled; retry", headers: [.retryAfter: "1"])

    public static let unauthorized = APIError(
        .unauthorized, code: "unauthorized", message: "send a valid API key as Authorization: Bearer <key>",
        headers: [.wwwAuthenticate: "Bearer"]
    )

    public static let shuttingDown = APIError(
        .serviceUnavailable, code: "shutting_down", message: "Herald is shutting down; send the request to another node or retry",
        headers: [.retryAfter: "5"]
    )

    private struct Envelope: Encodable {
        struct Body: Encodable {
            let code: String
            let message: String
            let details: [FieldProblem]
        }
        let error: Body
    }

    /// The JSON body of the answer.
    func body() throws -> Data {
        try JSONResponse.encode(Envelope(error: .init(code: code, message: message, details: details)))
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try body())))
    }
}
