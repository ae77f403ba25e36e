// HeraldDrill runs chaos drills against a running Herald: it streams emails through the HTTP
// API, breaks the sandbox providers on a schedule, and judges from the emails' recorded
// attempts whether routing behaved. It knows the server only through its HTTP API.
import AsyncHTTPClient
import HeraldCore
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The parts of Herald's HTTP API that a drill uses.
public struct HeraldClient: Sendable {
    public let server: String
    private let apiKey: String
    private let http: HTTPClient

    /// Runs `body` with a client of the Herald at `server` (a base URL such as
    /// `http://127.0.0.1:8025`) that authenticates with `apiKey` (the drill changes sandbox
    /// providers, so it needs the operator scope) and keeps up to `connections` connections, and
    /// shuts the client down afterwards.
    public static func with<T>(
        server: String, apiKey: String, connections: Int, _ body: (HeraldClient) async throws -> T
    ) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        return try await HTTPClient.withHTTPClient(configuration: configuration) { http in
            try await body(HeraldClient(server: server.hasSuffix("/") ? String(server.dropLast()) : server, apiKey: apiKey, http: http))
        }
    }

    /// `GET /v1/providers`.
    public func providers() async throws -> [ProviderSnapshot] {
        let body = try await call(.GET, "/v1/providers", expecting: 200)
        do {
            return try JSONDecoder.herald.decode(ProviderList.self, from: body).data
        } catch {
            throw DrillError(code: "unexpected_answer", message: "GET /v1/providers answered with JSON the drill cannot read: \(error)")
        }
    }

    /// `POST /v1/emails`; returns the new email's id.
    public func send(_ body: ByteBuffer) async throws -> String {
        let answer = try await call(.POST, "/v1/emails", body: body, expecting: 202)
        guard let accepted = try? JSONDecoder().decode(Accepted.self, from: answer) else {
            throw DrillError(code: "unexpected_answer", message: "POST /v1/emails answered 202 without an id")
        }
        return accepted.id
    }

    /// `GET /v1/emails/{id}`.
    public func email(_ id: String) async throws -> EmailRecord {
        let body = try await call(.GET, "/v1/emails/\(id)", expecting: 200)
        do {
            return try JSONDecoder.herald.decode(EmailRecord.self, from: body)
        } catch {
            throw DrillError(code: "unexpected_answer", message: "GET /v1/emails/\(id) answered with JSON the drill cannot read: \(error)")
        }
    }

    /// `PUT /v1/admin/providers/{name}/sandbox`.
    public func updateSandbox(_ name: String, to behavior: SandboxBehavior) async throws {
        let body = try JSONEncoder().encode(behavior)
        _ = try await call(.PUT, "/v1/admin/providers/\(name)/sandbox", body: ByteBuffer(bytes: body), expecting: 200)
    }

    private func call(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, expecting expected: Int) async throws -> Data {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        let answer: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(10))
            answer = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw DrillError(code: "unreachable", message: "\(method) \(path) on \(server) failed: \(error)")
        }
        guard Int(response.status.code) == expected else {
            throw DrillError(
                code: "http_\(response.status.code)",
                message: "\(method) \(path) answered \(response.status.code): \(String(buffer: answer).prefix(500))"
            )
        }
        return Data(answer.readableBytesView)
    }
}

private struct ProviderList: Decodable {
    var data: [ProviderSnapshot]
}

private struct Accepted: Decodable {
    var id: String
}

extension JSONDecoder {
    /// Herald writes times as ISO 8601 in UTC with milliseconds.
    static var herald: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
            return try Date.ISO8601FormatStyle().parse(text)
        }
        return decoder
    }
}
