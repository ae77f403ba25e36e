import Foundation
import HeraldCore
import HeraldDelivery
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import HeraldServer

@Suite("Metrics API")
struct MetricsAPITests {
    static func sample(_ name: String, in response: TestResponse) -> Double? {
        String(buffer: response.body).split(separator: "\n").first { $0.hasPrefix(name + " ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test func `reads the queue at most once a second, however often it is scraped`() async throws {
        try await APIHarness.run { harness, client in
            _ = try await client.accept()
            let queued = #"herald_queue_emails{status="queued"}"#
            #expect(Self.sample(queued, in: try await client.get("/metrics")) == 1)
            _ = try await client.accept()
            harness.clock.advance(by: .milliseconds(999))
            #expect(Self.sample(queued, in: try await client.get("/metrics")) == 1, "counted again within the second")
            harness.clock.advance(by: .milliseconds(1))
            #expect(Self.sample(queued, in: try await client.get("/metrics")) == 2)
            harness.clock.advance(by: .seconds(-3600))
            _ = try await client.accept()
            #expect(Self.sample(queued, in: try await client.get("/metrics")) == 3, "a clock stepped back reads again")
        }
    }

    @Test func `asks for a key when metrics.require_key is set`() async throws {
        try await APIHarness.run(configure: { $0.metrics.requireKey = true }) { harness, client in
            let anonymous = try await client.get("/metrics", as: nil)
            #expect(anonymous.status == .unauthorized)
            let reader = try await harness.key(scope: .read)
            let withKey = try await client.get("/metrics", as: reader)
            #expect(withKey.status == .ok)
            let health = try await client.get("/healthz", as: nil)
            #expect(health.status == .ok)
        }
        try await APIHarness.run { _, client in
            let open = try await client.get("/metrics", as: nil)
            #expect(open.status == .ok)
        }
    }

    @Test func `shows accepted emails, the queue and each breaker, and never an id or an address`() async throws {
        try await APIHarness.run { harness, client in
            let ids = [try await client.accept(), try await client.accept()]
            harness.clock.advance(by: .seconds(30))
            let response = try await client.get("/metrics")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4")
            let body = String(buffer: response.body)
            let samples = Dictionary(
                body.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
                    let parts = line.split(separator: " ")
                    return (String(parts[0]), Double(parts[1]) ?? .nan)
                },
                uniquingKeysWith: { first, _ in first }
            )
            #expect(samples["herald_emails_accepted_total"] == 2)
            #expect(samples[#"herald_queue_emails{status="queued"}"#] == 2)
            #expect(samples[#"herald_queue_emails{status="sending"}"#] == 0)
            #expect(abs((samples["herald_oldest_due_email_age_seconds"] ?? 0) - 30) < 0.01)
            for provider in ["sandbox", "files", "mail"] {
                #expect(samples[#"herald_breaker_state{provider="\#(provider)"}"#] == 0)
            }
            for id in ids { #expect(!body.contains(id.rawValue)) }
            #expect(!body.contains("@") && !body.contains("example."))
        }
    }

    @Test func `shows an open breaker as 2`() async throws {
        try await APIHarness.run { harness, client in
            let router = harness.providers.router
            let sandbox = try #require(router.routes.first)
            guard case .success(let lease) = router.acquire(sandbox, now: harness.clock.now) else {
                Issue.record("the breaker refused the first call")
                return
            }
            _ = router.record(
                lease, failure: ProviderFailure(.providerFatal, code: "x", message: "x"), latency: .zero, now: harness.clock.now)
            let body = String(buffer: try await client.get("/metrics").body)
            #expect(body.contains(#"herald_breaker_state{provider="sandbox"} 2.0"#))
            #expect(body.contains(#"herald_breaker_state{provider="files"} 0.0"#))
        }
    }
}
