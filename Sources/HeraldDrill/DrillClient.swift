// HeraldDrill runs chaos drills against a running Herald: it streams emails through the HTTP
// API, breaks the sandbox providers on a schedule, and judges from the emails' recorded
// attempts whether routing behaved. It knows the server only through its HTTP API, as the
// generated HeraldClient speaks it.
import AsyncHTTPClient
import HeraldClient
import HeraldCore
import OpenAPIRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The parts of Herald's HTTP API that a drill uses, through the generated client, with every
/// answer it does not expect turned into a ``DrillError``.
public struct DrillClient: Sendable {
    public let server: String
    private let client: Client

    /// Runs `body` with a client of the Herald at `server` (a base URL such as
    /// `http://127.0.0.1:8025`) that authenticates with `apiKey` (the drill changes sandbox
    /// providers, so it needs the operator scope) and keeps up to `connections` connections, and
    /// shuts the client down afterwards.
    public static func with<T>(
        server: String, apiKey: String, connections: Int, _ body: (DrillClient) async throws -> T
    ) async throws -> T {
        guard let url = URL(string: server) else {
            throw DrillError(code: "invalid_server", message: "\(server) is not a URL")
        }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        return try await HTTPClient.withHTTPClient(configuration: configuration) { http in
            try await body(
                DrillClient(server: server, client: Client(server: url, apiKey: apiKey, httpClient: http, timeout: .seconds(10))))
        }
    }

    /// `GET /v1/providers`.
    public func providers() async throws -> [ProviderSnapshot] {
        try await call("GET /v1/providers") {
            try await client.listProviders().ok.body.json.data.map(ProviderSnapshot.init)
        }
    }

    /// `POST /v1/emails`; returns the new email's id.
    public func send(_ email: Components.Schemas.SendEmailRequest) async throws -> String {
        try await call("POST /v1/emails") { try await client.sendEmail(body: .json(email)).accepted.body.json.id }
    }

    /// `GET /v1/emails/{id}`.
    public func email(_ id: String) async throws -> EmailRecord {
        try await call("GET /v1/emails/\(id)") {
            EmailRecord(try await client.getEmail(path: .init(id: id)).ok.body.json)
        }
    }

    /// `PUT /v1/admin/providers/{name}/sandbox`.
    public func updateSandbox(_ name: String, to behavior: SandboxBehavior) async throws {
        let settings = Components.Schemas.SandboxSettings(
            latencyMs: behavior.latencyMilliseconds, latencyJitterMs: behavior.latencyJitterMilliseconds,
            failureRate: behavior.failureRate, failureClass: Components.Schemas.ErrorClass(rawValue: behavior.failureClass.rawValue),
            retryAfterSeconds: behavior.retryAfterSeconds)
        try await call("PUT /v1/admin/providers/\(name)/sandbox") {
            _ = try await client.updateSandbox(path: .init(name: name), body: .json(settings)).ok
        }
    }

    /// Runs one request; an error answer is `http_<status>`, a transport failure `unreachable`,
    /// anything else the drill cannot read `unexpected_answer`.
    private func call<T>(_ request: String, _ perform: () async throws -> T) async throws -> T {
        do {
            return try await perform()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if let answer = HeraldError.from(error) {
                throw DrillError(code: "http_\(answer.status)", message: "\(request) answered \(answer)")
            }
            if let error = error as? ClientError, error.response == nil {
                throw DrillError(code: "unreachable", message: "\(request) on \(server) failed: \(error.underlyingError)")
            }
            throw DrillError(code: "unexpected_answer", message: "\(request) on \(server): \(error)")
        }
    }
}
