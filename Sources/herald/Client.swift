import ArgumentParser
import AsyncHTTPClient
import Foundation
import HeraldClient
import OpenAPIRuntime

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

    /// Runs `body` with a client of the server; an error answer is printed to standard error
    /// as the server sent it and ends the command with exit code 1.
    func withClient<T>(_ body: (Client) async throws -> T) async throws -> T {
        let key = try key()
        guard let url = URL(string: server) else { throw ValidationError("\(server) is not a URL") }
        return try await HTTPClient.withHTTPClient { http in
            do {
                return try await body(Client(server: url, apiKey: key, httpClient: http))
            } catch {
                if let answer = HeraldError.from(error) {
                    FileHandle.standardError.write(answer.body + Data("\n".utf8))
                    throw ExitCode(1)
                }
                throw ValidationError("cannot reach \(server): \((error as? ClientError)?.underlyingError ?? error)")
            }
        }
    }
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
        let email: Components.Schemas.SendEmailRequest
        if let file {
            do {
                email = try JSONDecoder().decode(
                    Components.Schemas.SendEmailRequest.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                throw ValidationError("\(file) is not an email as POST /v1/emails takes it: \(error)")
            }
        } else {
            guard let from else { throw ValidationError("give the sender with --from, or the whole email with --file") }
            email = Components.Schemas.SendEmailRequest(
                from: from, to: to, cc: cc.isEmpty ? nil : cc, bcc: bcc.isEmpty ? nil : bcc, subject: subject, text: text,
                html: html)
        }
        let id = try await options.withClient { client in try await client.sendEmail(body: .json(email)).accepted.body.json.id }
        print(id)
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
        let email = try await options.withClient { client in try await client.getEmail(path: .init(id: id)).ok.body.json }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        print(String(decoding: try encoder.encode(email), as: UTF8.self))
    }
}
