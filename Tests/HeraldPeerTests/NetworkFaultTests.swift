import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldTesting
import Testing

@testable import HeraldProviders

/// The SMTP adapter against smtp-sink and the SES adapter against moto, with
/// `scripts/peers/fault_proxy.py` between them breaking connections. A fault before the whole
/// message went out is `transient`; a reset or silence after it is `ambiguous`, since the
/// provider may have the email. Each ends within the call's deadline.
@Suite("Network faults to providers", .timeLimit(.minutes(3)))
struct NetworkFaultTests {
    /// Every call's deadline in these tests.
    static let deadline: Duration = .seconds(2)

    /// A delivery of a small message; for a reset in the middle of the body, of one too big to
    /// be written out before the reset comes (8 MB, more than the socket buffers take).
    static func delivery(for fault: FaultProxy.Fault? = nil) -> Delivery {
        // From the domain moto has verified for SES.
        var message = EmailMessage(
            from: EmailAddress(address: "sender@herald-test.example"), to: [EmailAddress(address: "to@example.com")], subject: "Faults",
            text: "Hello.")
        if fault == .resetInBody { message.text = String(repeating: "Eight megabytes of text.\n", count: 8 << 20 / 25) }
        return Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date(), deadline: .now + deadline)
    }

    @Test(arguments: [
        (FaultProxy.Fault.resetOnConnect, ErrorClass.transient),
        (.resetInBody, .transient),
        (.resetAfterBody, .ambiguous),
        // The greeting never comes: nothing was sent.
        (.silence, .transient),
    ])
    func `SMTP: each fault has its class, and the broken connection leaves the pool`(fault: FaultProxy.Fault, expected: ErrorClass)
        async throws
    {
        let sink = "127.0.0.1:\(try Peers.require("HERALD_TEST_SMTP_SINK_PORT"))"
        try await FaultProxy.with(upstream: sink, fault: fault.rawValue, protocol: .smtp, faulty: 1) { port in
            let configuration = SMTPProvider.Configuration(host: "127.0.0.1", port: port, tls: .none, heloName: "herald.test")
            try await withSMTPProvider(configuration) { provider in
                let failure = try await Self.timedFailure { try await provider.send(Self.delivery(for: fault)) }
                #expect(failure.errorClass == expected, "\(failure.code): \(failure.message)")
                #expect(provider.pool.sessionCount == 0, "the broken session left the pool")
                // The proxy breaks only the first connection: a second send on a new one works.
                _ = try await provider.send(Self.delivery())
                #expect(provider.pool.sessionCount == 1)
            }
        }
    }

    @Test(arguments: [
        // Over HTTPS, as providers are reached: nothing of the request goes out before the
        // handshake, which the reset ends. (Over plain HTTP the client writes its request the
        // moment it connects, and whether the reset comes first is a race.)
        (FaultProxy.Fault.resetOnConnect, ErrorClass.transient),
        (.resetInBody, .transient),
        (.resetAfterBody, .ambiguous),
        // The request went out into the socket; no answer came by the deadline.
        (.silence, .ambiguous),
    ])
    func `SES over HTTP: each fault has its class`(fault: FaultProxy.Fault, expected: ErrorClass) async throws {
        let moto = try #require(URL(string: try Peers.require("HERALD_TEST_SES_ENDPOINT")))
        // Every connection breaks: AsyncHTTPClient itself tries a request again on a new
        // connection when the first closed before the request went out.
        try await FaultProxy.with(upstream: "\(moto.host!):\(moto.port!)", fault: fault.rawValue, protocol: .http) { port in
            let scheme = fault == .resetOnConnect ? "https" : "http"
            try await withSES(endpoint: "\(scheme)://127.0.0.1:\(port)") { provider in
                let failure = try await Self.timedFailure { try await provider.send(Self.delivery(for: fault)) }
                #expect(failure.errorClass == expected, "\(failure.code): \(failure.message)")
            }
        }
    }

    @Test func `a TLS handshake that stalls is transient`() async throws {
        try await FaultProxy.with(upstream: "127.0.0.1:1", fault: "silence", protocol: .http) { port in
            try await withSES(endpoint: "https://127.0.0.1:\(port)") { provider in
                let failure = try await Self.timedFailure { try await provider.send(Self.delivery()) }
                #expect(failure.errorClass == .transient, "\(failure.code): \(failure.message)")
            }
            let configuration = SMTPProvider.Configuration(host: "127.0.0.1", port: port, tls: .implicit, heloName: "herald.test")
            try await withSMTPProvider(configuration) { provider in
                let failure = try await Self.timedFailure { try await provider.send(Self.delivery()) }
                #expect(failure.errorClass == .transient, "\(failure.code): \(failure.message)")
                #expect(provider.pool.sessionCount == 0, "the session that never came up left the pool")
            }
        }
    }

    @Test(arguments: ["herald-test.invalid", "127.0.0.1"])
    func `an unresolvable name or a refused port is transient`(host: String) async throws {
        // Port 1 (tcpmux) has no listener on a test machine; `.invalid` never resolves (RFC 6761).
        try await withSES(endpoint: "http://\(host):1") { provider in
            let failure = try await Self.timedFailure { try await provider.send(Self.delivery()) }
            #expect(failure.errorClass == .transient, "\(failure.code): \(failure.message)")
        }
        try await withSMTPProvider(.init(host: host, port: 1, tls: .none, heloName: "herald.test")) { provider in
            let failure = try await Self.timedFailure { try await provider.send(Self.delivery()) }
            #expect(failure.errorClass == .transient, "\(failure.code): \(failure.message)")
            #expect(provider.pool.sessionCount == 0, "no session holds a place in the pool")
        }
    }

    @Test func `added latency slows the calls down and they succeed`() async throws {
        let sink = "127.0.0.1:\(try Peers.require("HERALD_TEST_SMTP_SINK_PORT"))"
        try await FaultProxy.with(upstream: sink, fault: "latency:100", protocol: .smtp) { port in
            let configuration = SMTPProvider.Configuration(host: "127.0.0.1", port: port, tls: .none, heloName: "herald.test")
            try await withSMTPProvider(configuration) { provider in
                let start = ContinuousClock.now
                _ = try await provider.send(Self.delivery())
                #expect(ContinuousClock.now - start >= .milliseconds(200), "the greeting and each reply waited 100 ms")
            }
        }
        let moto = try #require(URL(string: try Peers.require("HERALD_TEST_SES_ENDPOINT")))
        try await FaultProxy.with(upstream: "\(moto.host!):\(moto.port!)", fault: "latency:100", protocol: .http) { port in
            try await withSES(endpoint: "http://127.0.0.1:\(port)") { provider in
                let start = ContinuousClock.now
                _ = try await provider.send(Self.delivery())
                #expect(ContinuousClock.now - start >= .milliseconds(100), "the answer waited 100 ms")
            }
        }
    }

    /// The failure `send` throws, which must come within the deadline (and a second for the
    /// machine).
    static func timedFailure(_ send: () async throws -> ProviderReceipt) async throws -> ProviderFailure {
        let start = ContinuousClock.now
        let failure = try #require(await providerFailure(send))
        #expect(ContinuousClock.now - start <= deadline + .seconds(1), "the call took \(ContinuousClock.now - start)")
        return failure
    }

    func withSES(endpoint: String, _ body: (SESProvider) async throws -> Void) async throws {
        let credentials = AWSSignatureV4.Credentials(
            accessKeyID: try Peers.require("HERALD_TEST_SES_ACCESS_KEY_ID"),
            secretAccessKey: try Peers.require("HERALD_TEST_SES_SECRET_ACCESS_KEY"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .forProviders)
        do {
            try await body(
                SESProvider(
                    name: "ses", configuration: .init(region: "us-east-1", endpoint: endpoint, credentials: credentials), client: client))
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
