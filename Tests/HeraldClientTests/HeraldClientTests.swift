import AsyncHTTPClient
import Crypto
import Foundation
import HeraldClient
import HeraldTesting
import OpenAPIRuntime
import Testing

/// The generated client: made from the document Herald serves today, and speaking to the built
/// binary as an application would.
@Suite("Generated client")
struct HeraldClientTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// scripts/generate-client records the document it read; a change to the document without
    /// generating again leaves the client behind, and this fails until it is generated.
    @Test func `was generated from the current OpenAPI document`() throws {
        let document = try Data(contentsOf: Self.packageRoot.appendingPathComponent("Sources/HeraldAPI/OpenAPI/openapi.yaml"))
        let recorded = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Sources/HeraldClient/Generated/openapi.yaml.sha256"), encoding: .utf8)
        let digest = SHA256.hash(data: document).map { String(format: "%02x", $0) }.joined()
        #expect(recorded.hasPrefix(digest), "run scripts/generate-client")
    }

    @Test(arguments: [Duration.seconds(Int64.max), .seconds(Int64.min), .seconds(9_223_372_036), .zero])
    func `takes any timeout without trapping`(timeout: Duration) {
        _ = Client(server: URL(string: "http://127.0.0.1:1")!, apiKey: "hk_x_y", timeout: timeout)
    }

    @Test func `sends, reads, lists by filter and pages, and throws error answers as HeraldError`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: "providers: [{name: primary, type: sandbox}]")
            let client = Client(server: URL(string: herald.baseURL)!, apiKey: herald.apiKey)
            var ids: [String] = []
            for index in 0..<3 {
                let email = Components.Schemas.SendEmailRequest(
                    from: "Ada <ada@example.org>", to: ["bob@example.com"], subject: "Hello \(index)", text: "Hello, Bob.",
                    tags: [index == 1 ? "receipt" : "welcome"])
                ids.append(try await client.sendEmail(body: .json(email)).accepted.body.json.id)
            }
            try await herald.waitUntil(ids, are: "sent")
            let shown = try await client.getEmail(path: .init(id: ids[1])).ok.body.json
            #expect(shown.subject == "Hello 1")
            #expect(shown.status == .sent)
            #expect(shown.attempts.first?.provider == "primary")

            let welcome = try await client.listEmails(query: .init(limit: 1, tag: "welcome")).ok.body.json
            #expect(welcome.data.map(\.id) == [ids[2]])
            let next = try #require(welcome.nextCursor)
            let rest = try await client.listEmails(query: .init(limit: 1, cursor: next, tag: "welcome")).ok.body.json
            #expect(rest.data.map(\.id) == [ids[0]])

            let providers = try await client.listProviders().ok.body.json.data
            #expect(providers.map(\.name) == ["primary"])
            #expect(providers.first?.sandbox != nil)

            // The schema lets a body-less email through; Herald does not, and says why.
            let bodiless = Components.Schemas.SendEmailRequest(from: "ada@example.org", to: ["bob@example.com"], subject: "Hi")
            let error = await #expect(throws: (any Error).self) { try await client.sendEmail(body: .json(bodiless)) }
            let answer = try #require(error.flatMap(HeraldError.from))
            #expect(answer.status == 422)
            #expect(answer.code == "validation_failed")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }
}
