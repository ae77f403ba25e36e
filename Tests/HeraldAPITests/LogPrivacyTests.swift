import Foundation
import HeraldCore
import HeraldProviders
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import HeraldDelivery
@testable import HeraldServer

/// Logs carry ids, never an address, a subject or a body: a whole scenario runs with every log
/// line captured, at trace level, and the capture is searched for each one it used.
@Suite("Log privacy")
struct LogPrivacyTests {
    /// Keeps every line, with its metadata, as text.
    final class CapturingLogHandler: LogHandler, Sendable {
        let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata {
            get { [:] }
            set {}
        }
        var logLevel: Logger.Level {
            get { .trace }
            set {}
        }
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { nil }
            set {}
        }

        func log(event: LogEvent) {
            lines.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(event.source)") }
        }

        var text: String { lines.withLock { $0.joined(separator: "\n") } }
    }

    @Test func `a full scenario logs no address, subject or body`() async throws {
        let capture = CapturingLogHandler()
        let logger = Logger(label: "herald") { _ in capture }
        let addresses = ["private.person@secret-domain.example", "second.person@secret-domain.example", "not-an-address@"]
        let subject = "Diagnosis results for patient 3141"
        let body = "The secret body 2718281828"
        try await APIHarness.run(logger: logger) { harness, client in
            let email = #"{"from": "\#(addresses[0])", "to": ["\#(addresses[1])"], "subject": "\#(subject)", "text": "\#(body)"}"#
            let id = try await client.accept(email)
            _ = try await client.post("/v1/emails/batch", json: #"{"emails": [\#(email)]}"#)
            _ = try await client.post("/v1/emails", json: #"{"from": "\#(addresses[2])", "to": ["x"], "subject": "\#(subject)"}"#)
            _ = try await client.post("/v1/emails", json: email, as: "hk_wrong_key")
            _ = try await client.get("/v1/emails/\(id)")

            // Delivery: the primary fails, the secondary takes the emails.
            let failing = SandboxProvider(name: "primary", behavior: SandboxBehavior(failureRate: 1, failureClass: .transient))
            let router = ProviderRouter(
                routes: [
                    .init(provider: failing, priority: 1, timeout: .seconds(5)),
                    .init(provider: SandboxProvider(name: "secondary"), priority: 2, timeout: .seconds(5)),
                ],
                breaker: .init(), now: harness.clock.now)
            let dispatcher = Dispatcher(
                store: harness.store, router: router,
                configuration: .init(
                    concurrency: 4, pollInterval: .milliseconds(20), leaseDuration: .seconds(60),
                    retryPolicy: .exponentialJitter(base: .seconds(1), cap: .seconds(10), maxAttempts: 3, maxAge: .seconds(3600)),
                    owner: "test"),
                clock: harness.clock, metricsFactory: HeraldServer.makeMetricsFactory(), logger: logger)
            for leased in try await harness.store.leaseDueEmails(limit: 10, owner: "test", now: harness.clock.now, duration: .seconds(60)) {
                await dispatcher.deliver(leased)
            }
            #expect(try await harness.store.email(id)?.status == .sent)
        }
        let logs = capture.text
        #expect(logs.contains("email sent"), "the scenario did log")
        for secret in addresses + [subject, body, "secret-domain"] {
            #expect(!logs.contains(secret), "\(secret) appears in the logs")
        }
    }
}
