import AsyncHTTPClient
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
    @Test func `a full scenario logs no address, subject or body`() async throws {
        let (logger, capture) = CapturingLogHandler.logger()
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

    /// The error paths, where providers' answers quote addresses: an HTTP API that fails with
    /// the recipient in its error text (as Postmark's documented errors do), then a real SMTP
    /// server (aiosmtpd) that refuses the recipient.
    @Test func `failing SMTP and HTTP providers log no address, subject or body`() async throws {
        let (logger, capture) = CapturingLogHandler.logger()
        let recipient = "refused.person@secret-domain.example"
        let router = Router()
        router.post("email") { _, _ in
            Response(
                status: .internalServerError, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: #"{"ErrorCode": 0, "Message": "Failed to deliver to 'nobody@secret-domain.example' (\#(recipient))"}"#)))
        }
        let failingAPI = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await failingAPI.test(.live) { apiClient in
            let port = try #require(apiClient.port)
            try await APIHarness.run(logger: logger) { harness, client in
                let subject = "Quarterly results for secret-domain"
                let email =
                    #"{"from": "sender@secret-domain.example", "to": ["nobody@secret-domain.example", "\#(recipient)"], "subject": "\#(subject)", "text": "The secret body 1618"}"#
                let id = try await client.accept(email)
                let postmark = PostmarkProvider(
                    name: "postmark",
                    configuration: .init(serverToken: "token", endpoint: "http://127.0.0.1:\(port)", timeout: .seconds(5)),
                    client: .shared)
                let smtp = try SMTPProvider(
                    name: "relay",
                    configuration: .init(
                        host: "127.0.0.1", port: Int(try Peers.require("HERALD_TEST_AIOSMTPD_PIPELINING_PORT"))!, tls: .none),
                    logger: logger)
                defer { Task { await smtp.shutdown() } }
                let dispatcher = Dispatcher(
                    store: harness.store,
                    router: ProviderRouter(
                        routes: [
                            .init(provider: postmark, priority: 1, timeout: .seconds(5)),
                            .init(provider: smtp, priority: 2, timeout: .seconds(5)),
                        ],
                        breaker: .init(), now: harness.clock.now),
                    configuration: .init(
                        concurrency: 1, pollInterval: .milliseconds(20), leaseDuration: .seconds(60),
                        retryPolicy: .exponentialJitter(base: .seconds(1), cap: .seconds(10), maxAttempts: 1, maxAge: .seconds(3600)),
                        owner: "test"),
                    clock: harness.clock, metricsFactory: HeraldServer.makeMetricsFactory(), logger: logger)
                for leased in try await harness.store.leaseDueEmails(
                    limit: 10, owner: "test", now: harness.clock.now, duration: .seconds(60))
                {
                    await dispatcher.deliver(leased)
                }
                let attempts = try #require(try await harness.store.email(id)).attempts
                #expect(attempts.map(\.provider) == ["postmark", "relay"], "both providers failed the email in turn")
            }
        }
        let logs = capture.text
        #expect(logs.contains("provider: relay") || logs.contains("\"provider\": relay"), "the SMTP logger's own metadata was captured")
        for secret in [recipient, "nobody@", "secret-domain", "Quarterly results", "secret body"] {
            #expect(!logs.contains(secret), "\(secret) appears in the logs:\n\(logs)")
        }
    }
}
