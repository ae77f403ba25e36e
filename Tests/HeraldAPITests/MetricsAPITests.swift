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
