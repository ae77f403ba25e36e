// HeraldClient is Herald's HTTP API in Swift: `Client`, `Components.Schemas` and `Operations`
// in Generated/ are written by swift-openapi-generator from the OpenAPI document that Herald
// serves (scripts/generate-client); this file only connects them to a server.
import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

extension Client {
    /// A client of the Herald at `server` (a base URL such as `http://127.0.0.1:8025`) that
    /// sends `apiKey` with every request, through `httpClient`, each request within `timeout`.
    /// Every error answer is thrown as a ``HeraldError``.
    public init(server: URL, apiKey: String, httpClient: HTTPClient = .shared, timeout: Duration = .seconds(30)) {
        // Clamped rather than trapping: a caller may ask for a timeout beyond what NIO counts.
        let (seconds, attoseconds) = timeout.components
        let (scaled, tooLong) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, stillTooLong) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        let nanoseconds = tooLong || stillTooLong ? (seconds < 0 ? Int64.min : Int64.max) : sum
        self.init(
            serverURL: server,
            // Herald writes times with milliseconds, which the default transcoder does not read.
            configuration: Configuration(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: AsyncHTTPClientTransport(configuration: .init(client: httpClient, timeout: .nanoseconds(nanoseconds))),
            middlewares: [BearerKey(key: apiKey), ErrorAnswers()])
    }
}

/// Sends the API key as a bearer token, as every `/v1` route asks.
struct BearerKey: ClientMiddleware {
    let key: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(key)"
        return try await next(request, body, baseURL)
    }
}

/// An answer of Herald's with a 4xx or 5xx status: the client throws it (inside OpenAPIRuntime's
/// `ClientError`) rather than returning the answer, so that the code after a call sees only
/// success. `code` and `message` come from the `error` object every error answer carries.
public struct HeraldError: Error, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    /// The answer's body as sent, at most 1 MiB of it.
    public var body: Data

    public var description: String { "\(status) \(code): \(message)" }

    /// The Herald error inside `error`, when there is one.
    public static func from(_ error: any Error) -> HeraldError? {
        error as? HeraldError ?? (error as? ClientError)?.underlyingError as? HeraldError
    }
}

/// Turns every error answer into a thrown ``HeraldError``.
struct ErrorAnswers: ClientMiddleware {
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, answer) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, answer) }
        var bytes = Data()
        if let answer { bytes = try await Data(collecting: answer, upTo: 1 << 20) }
        let error = (try? JSONDecoder().decode(ErrorBody.self, from: bytes))?.error
        throw HeraldError(
            status: response.status.code, code: error?.code ?? "http_\(response.status.code)",
            message: error?.message ?? response.status.reasonPhrase, body: bytes)
    }

    private struct ErrorBody: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
        }

        var error: Detail
    }
}
