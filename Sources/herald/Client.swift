import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Options shared by the subcommands that talk to a running server.
struct ServerOptions: ParsableArguments {
    @Option(help: "The Herald server's base URL.")
    var server = "http://127.0.0.1:8025"

    @Option(help: "The API key to send as Authorization: Bearer (default: HERALD_API_KEY).")
    var apiKey: String?

    /// The key from the flag or the environment; a command that talks to a server needs one.
    func key() throws -> String {
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["HERALD_API_KEY"], !key.isEmpty else {
            throw ValidationError("give an API key with --api-key or HERALD_API_KEY (herald keys create makes one)")
        }
        return key
    }

    /// Sends one request and returns the status and body; the client is shut down afterwards.
    func request(_ method: HTTPMethod, _ path: String, json: Data? = nil) async throws -> (status: Int, body: Data) {
        let key = try key()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var request = HTTPClientRequest(url: server.trimmingSuffix("/") + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: json))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            try await client.shutdown()
            return (Int(response.status.code), Data(body.readableBytesView))
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot reach \(server): \(error)")
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Prints a server answer; a 4xx or 5xx ends the command with exit code 1.
func printAnswer(status: Int, body: Data, onSuccess: (Any) -> String) throws {
    let json = try? JSONSerialization.jsonObject(with: body)
    guard (200..<300).contains(status) else {
        FileHandle.standardError.write(body + Data("\n".utf8))
        throw ExitCode(1)
    }
    print(json.map(onSuccess) ?? String(decoding: body, as: UTF8.self))
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Submit one email to a running server and print its id.",
        discussion: "Give the email as flags, or as the JSON body of POST /v1/emails with --file."
    )

    @OptionGroup var options: ServerOptions

    @Option(help: "A JSON file holding the whole request (fields as in POST /v1/emails).")
    var file: String?

    @Option(help: "Sender, as name@domain or 'Name <name@domain>'.")
    var from: String?

    @Option(help: "A recipient; repeat for more.")
    var to: [String] = []

    @Option(help: "A copy recipient; repeat for more.")
    var cc: [String] = []

    @Option(help: "A blind copy recipient; repeat for more.")
    var bcc: [String] = []

    @Option(help: "The subject line.")
    var subject: String?

    @Option(help: "The plain-text body.")
    var text: String?

    @Option(help: "The HTML body.")
    var html: String?

    func run() async throws {
        let body: Data
        if let file {
            body = try Data(contentsOf: URL(fileURLWithPath: file))
        } else {
            var request: [String: Any] = ["to": to]
            request["from"] = from
            if !cc.isEmpty { request["cc"] = cc }
            if !bcc.isEmpty { request["bcc"] = bcc }
            request["subject"] = subject
            request["text"] = text
            request["html"] = html
            body = try JSONSerialization.data(withJSONObject: request)
        }
        let answer = try await options.request(.POST, "/v1/emails", json: body)
        try printAnswer(status: answer.status, body: answer.body) { json in
            ((json as? [String: Any])?["id"] as? String) ?? ""
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show an email's status and history as JSON."
    )

    @OptionGroup var options: ServerOptions

    @Argument(help: "The id that `herald send` or POST /v1/emails returned.")
    var id: String

    func run() async throws {
        let answer = try await options.request(.GET, "/v1/emails/\(id)")
        try printAnswer(status: answer.status, body: answer.body) { json in
            let pretty = try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            return pretty.map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }
}
