import Foundation
import HeraldTesting
import NIOHTTP1
import Testing

/// The OpenAPI contract that `GET /openapi.json` serves, checked by tools that know the
/// standard: openapi-spec-validator reads the document, schemathesis sends the running server
/// requests generated from it (valid and invalid ones, in sequences that follow the document's
/// links) and checks every answer against it.
@Suite("OpenAPI contract")
struct ContractTests {
    static let config = """
        providers:
          - {name: primary, type: sandbox}
          - {name: secondary, type: sandbox}
        """

    @Test func `the served document is a valid OpenAPI 3.1 document`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config)
            let document = try await HTTP.shared.request(.GET, "\(herald.baseURL)/openapi.json")
            #expect(document.status == 200)
            #expect(document.body["openapi"] as? String == "3.1.0")
            let file = directory.appendingPathComponent("openapi.json")
            try JSONSerialization.data(withJSONObject: document.body).write(to: file)
            let validation = try Command.run("python3", ["-m", "openapi_spec_validator", "--schema", "3.1", file.path])
            #expect(validation.status == 0, "\(validation.output)\(validation.errors)")
        }
    }

    @Test func `schemathesis finds no server error and no answer outside the contract in over 1,000 requests`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config)
            let checks = [
                "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
                "response_schema_conformance",
            ]
            // schemathesis's own entry point, so that no PATH is needed for its `st` script.
            let entryPoint = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())"
            let run = try Command.run(
                "python3",
                [
                    "-c", entryPoint, "run", "\(herald.baseURL)/openapi.json", "--header", "Authorization: Bearer \(herald.apiKey)",
                    "--checks", checks.joined(separator: ","), "--max-examples", "30", "--generation-deterministic", "--workers", "1",
                ],
                // schemathesis keeps a cache in its working directory.
                directory: directory)
            #expect(run.status == 0, "\(run.output)\(run.errors)")
            // "Test cases:\n  1667 generated, 1667 passed"
            let generated = run.output.firstMatch(of: /(\d+) generated, (\d+) passed/)
            let count = try #require(generated.flatMap { Int($0.1) }, "\(run.output)")
            #expect(count >= 1000)
            #expect(generated.flatMap { Int($0.2) } == count)
        }
    }
}
