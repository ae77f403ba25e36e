import Foundation
import HeraldAPI
import HeraldCore
import HeraldDelivery
import HeraldProviders
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import HeraldServer

@Suite("Health and provider API")
struct SystemAPITests {
    @Test func `reports liveness and readiness, and 503 once draining`() async throws {
        try await APIHarness.run { harness, client in
            #expect(try await client.get("/healthz").status == .ok)
            #expect(try await client.get("/readyz").status == .ok)
            harness.state.startDraining()
            let draining = try await client.get("/readyz")
            #expect(draining.status == .serviceUnavailable)
            #expect(draining.json["status"] as? String == "draining")
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    @Test func `is not ready once due emails wait past the bound while no lease is answered`() async throws {
        let sinceLastLease = SinceLastLease()
        let watch = SystemController<HeraldRequestContext>.DispatchWatch(
            timeSinceLastLease: { sinceLastLease.value.withLock { $0 } }, stalledAfter: .seconds(30))
        try await APIHarness.run(dispatchWatch: watch) { harness, client in
            let id = try await client.accept()
            harness.clock.advance(by: .seconds(31))
            // The dispatcher leases, so an email due for long is a backlog, not a stall.
            #expect(try await client.get("/readyz").status == .ok)
            sinceLastLease.value.withLock { $0 = .seconds(31) }
            let stalled = try await client.get("/readyz")
            #expect(stalled.status == .serviceUnavailable)
            #expect(stalled.json["status"] as? String == "dispatcher_stalled")
            // With nothing due, a dispatcher that has not leased for long is idle, not stalled.
            #expect(try await client.post("/v1/emails/\(id)/cancel", json: "").status == .ok)
            #expect(try await client.get("/readyz").status == .ok)
        }
    }

    @Test func `lists providers with their state, breaker, latency and quotas`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.get("/v1/providers")
            #expect(response.status == .ok)
            let providers = try #require(response.json["data"] as? [[String: Any]])
            #expect(providers.map { $0["name"] as? String } == ["sandbox", "files", "mail"])
            #expect(providers.map { $0["type"] as? String } == ["sandbox", "file", "ses"])
            #expect(providers.map { $0["state"] as? String } == ["healthy", "healthy", "healthy"])
            let breaker = try #require(providers[0]["breaker"] as? [String: Any])
            #expect(breaker["state"] as? String == "closed")
            #expect(breaker["open_seconds"] as? Double == 30)
            #expect(providers[0]["slow_ms"] as? Int == 5000)
            #expect((providers[0]["latency"] as? [String: Any])?["samples"] as? Int == 0)
            #expect(providers[0]["sends_last_minute"] as? Int == 0)
            let daily = try #require((providers[0]["quota"] as? [String: Any])?["daily"] as? [String: Any])
            #expect(daily["used"] as? Int == 0)
            #expect(daily["limit"] == nil, "no limit is configured")
            #expect(!"\(response.json)".contains("unused"), "credentials are never shown")
        }
    }

    @Test func `pauses and resumes a provider by hand, and keeps the pause in the store`() async throws {
        try await APIHarness.run { harness, client in
            let paused = try await client.post("/v1/admin/providers/sandbox/pause", json: "")
            #expect(paused.status == .ok)
            #expect(paused.json["state"] as? String == "paused")
            #expect(paused.json["reason"] as? String == "paused by an operator")
            #expect(try await harness.store.providerStates() == [ProviderStateRecord(provider: "sandbox", paused: true)])
            let route = harness.providers.router.routes[0]
            guard case .failure(.paused) = harness.providers.router.acquire(route, now: harness.clock.now) else {
                Issue.record("a paused provider must not be called")
                return
            }

            let resumed = try await client.post("/v1/admin/providers/sandbox/resume", json: "")
            #expect(resumed.json["state"] as? String == "healthy")
            #expect(try await harness.store.providerStates().first?.paused == false)
            #expect(try await client.post("/v1/admin/providers/nowhere/pause", json: "").status == .notFound)
        }
    }

    @Test func `changes a sandbox provider's behaviour at run time`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.put(
                "/v1/admin/providers/sandbox/sandbox", json: #"{"failure_rate": 1, "failure_class": "permanent", "latency_ms": 5}"#
            )
            #expect(response.status == .ok)
            #expect(response.json["failure_class"] as? String == "permanent")
            let sandbox = try #require(harness.providers.router.routes.first?.provider as? SandboxProvider)
            #expect(sandbox.behavior == SandboxBehavior(latencyMilliseconds: 5, failureRate: 1, failureClass: .permanent))
        }
    }

    @Test func `refuses bad sandbox settings`() async throws {
        try await APIHarness.run { _, client in
            let invalid = try await client.put("/v1/admin/providers/sandbox/sandbox", json: #"{"failure_rate": 2, "latency_ms": -1}"#)
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.problems == ["failure_rate: invalid_value", "latency_ms: invalid_value"])
            let huge = try await client.put(
                "/v1/admin/providers/sandbox/sandbox",
                json: #"{"latency_ms": 600001, "latency_jitter_ms": 9223372036854775807, "retry_after_seconds": 86401}"#)
            #expect(
                huge.problems == ["latency_ms: invalid_value", "latency_jitter_ms: invalid_value", "retry_after_seconds: invalid_value"])
            let wrongType = try await client.put("/v1/admin/providers/sandbox/sandbox", json: #"{"failure_class": "sometimes"}"#)
            #expect(wrongType.status == .unprocessableContent)
            #expect(wrongType.problems == ["failure_class: invalid_value"])
            let malformed = try await client.put("/v1/admin/providers/sandbox/sandbox", json: "{")
            #expect(malformed.status == .badRequest)
            #expect(try await client.put("/v1/admin/providers/nobody/sandbox", json: "{}").status == .notFound)
            let notSandbox = try await client.put("/v1/admin/providers/files/sandbox", json: "{}")
            #expect(notSandbox.status == .conflict)
            #expect(notSandbox.error["code"] as? String == "not_a_sandbox")
        }
    }
}

/// What the readiness test says of the dispatcher's last lease.
private final class SinceLastLease: Sendable {
    let value = Mutex<Duration>(.zero)
}
