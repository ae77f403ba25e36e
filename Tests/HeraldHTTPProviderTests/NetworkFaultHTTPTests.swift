import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// Every HTTP adapter with `scripts/peers/fault_proxy.py` between it and its fake API, for each
/// fault the issue lists: what went out before the fault decides the class. Nothing of the
/// request can have reached the provider (a refused port, a name that does not resolve, a reset
/// or silence before TLS is up, a reset in the middle of the body): `transient`. All of it went
/// out and no answer came (a reset after the body, silence): `ambiguous`. Each within the
/// adapter's `timeout_seconds`; added latency only slows the call down.
@Suite("Network faults to the HTTP providers", .timeLimit(.minutes(3)))
struct NetworkFaultHTTPTests {
    enum Kind: String, CaseIterable {
        case sendgrid, postmark, mailgun, elasticemail

        /// The provider's documented answer to a send it took.
        var success: FakeAnswer {
            switch self {
            case .sendgrid: .respond(status: 202, headers: ["X-Message-Id": "sg-fault-1"])
            case .postmark: .respond(status: 200, body: PostmarkProviderTests.success)
            case .mailgun: .respond(status: 200, body: MailgunProviderTests.success)
            case .elasticemail: .respond(status: 200, body: ElasticEmailProviderTests.success)
            }
        }
    }

    enum Scenario: String, CaseIterable {
        case resetOnConnect, resetInBody, resetAfterBody, silence, stalledTLSHandshake, unresolvableName, refusedPort
        case latency

        /// The class the failure must have; nil for a send that must succeed.
        var expected: ErrorClass? {
            switch self {
            case .resetOnConnect, .resetInBody, .stalledTLSHandshake, .unresolvableName, .refusedPort: .transient
            case .resetAfterBody, .silence: .ambiguous
            case .latency: nil
            }
        }
    }

    /// Each adapter's `timeout_seconds` in these tests.
    static let timeout: Duration = .seconds(2)

    static let cases = Kind.allCases.flatMap { kind in Scenario.allCases.map { (kind, $0) } }

    @Test(arguments: cases)
    func `each fault has the class of what went out before it, within the timeout`(kind: Kind, scenario: Scenario) async throws {
        try await FakeProviderServer.run(answer: kind.success, check: { _ in [] }) { server in
            let upstream = try #require(URL(string: server.endpoint))
            try await Self.reach(upstream: "127.0.0.1:\(upstream.port!)", through: scenario) { endpoint in
                try await withHTTPClient { client in
                    let provider = Self.provider(kind, endpoint: endpoint, client: client)
                    // Too big to be written out before a reset in its body comes.
                    // (The small one has no inline image, which Elastic Email's API cannot send.)
                    let delivery = Samples.largeDelivery(bytes: scenario == .resetInBody ? 8 << 20 : 1024)
                    let start = ContinuousClock.now
                    guard let expected = scenario.expected else {
                        _ = try await provider.send(delivery)
                        #expect(ContinuousClock.now - start >= .milliseconds(100), "the answer waited 100 ms")
                        return
                    }
                    let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(delivery) }
                    let took = ContinuousClock.now - start
                    #expect(failure.errorClass == expected, "\(failure.code): \(failure.message)")
                    #expect(took <= Self.timeout + .seconds(1), "within timeout_seconds: took \(took)")
                }
            }
        }
    }

    /// Runs `body` with the endpoint an adapter reaches `upstream` by, faulty as `scenario` says.
    static func reach(upstream: String, through scenario: Scenario, _ body: (String) async throws -> Void) async throws {
        let fault: String
        var scheme = "http"
        switch scenario {
        // Port 1 (tcpmux) has no listener on a test machine; `.invalid` never resolves (RFC 6761).
        case .refusedPort: return try await body("http://127.0.0.1:1")
        case .unresolvableName: return try await body("http://herald-test.invalid:1")
        // Over HTTPS, as providers are reached: nothing of the request goes out before the
        // handshake, which the reset ends. (Over plain HTTP the client writes its request the
        // moment it connects, and whether the reset comes first is a race.)
        case .resetOnConnect: (fault, scheme) = (FaultProxy.Fault.resetOnConnect.rawValue, "https")
        case .stalledTLSHandshake: (fault, scheme) = (FaultProxy.Fault.silence.rawValue, "https")
        case .resetInBody: fault = FaultProxy.Fault.resetInBody.rawValue
        case .resetAfterBody: fault = FaultProxy.Fault.resetAfterBody.rawValue
        case .silence: fault = FaultProxy.Fault.silence.rawValue
        case .latency: fault = "latency:100"
        }
        try await FaultProxy.with(upstream: upstream, fault: fault, protocol: .http) { port in
            try await body("\(scheme)://127.0.0.1:\(port)")
        }
    }

    static func provider(_ kind: Kind, endpoint: String, client: HTTPClient) -> any EmailProvider {
        let large = 64 << 20
        return switch kind {
        case .sendgrid:
            SendGridProvider(
                name: "sendgrid",
                configuration: .init(apiKey: SendGridFormat.apiKey, endpoint: endpoint, timeout: Self.timeout, maxMessageBytes: large),
                client: client)
        case .postmark:
            PostmarkProvider(
                name: "postmark",
                configuration: .init(
                    serverToken: PostmarkFormat.serverToken, endpoint: endpoint, timeout: Self.timeout, maxMessageBytes: large),
                client: client)
        case .mailgun:
            MailgunProvider(
                name: "mailgun",
                configuration: .init(
                    apiKey: MailgunFormat.apiKey, domain: MailgunFormat.domain, endpoint: endpoint, timeout: Self.timeout,
                    maxMessageBytes: large),
                client: client)
        case .elasticemail:
            ElasticEmailProvider(
                name: "elasticemail",
                configuration: .init(apiKey: ElasticEmailFormat.apiKey, endpoint: endpoint, timeout: Self.timeout, maxMessageBytes: large),
                client: client)
        }
    }
}
