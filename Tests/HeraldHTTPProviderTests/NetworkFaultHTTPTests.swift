import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// Every HTTP adapter with `scripts/peers/fault_proxy.py` between it and its fake API: a reset in
/// the middle of the body (the request could not all be written) is `transient`; a reset after
/// the whole request went out, before any answer, is `ambiguous`.
@Suite("Network faults to the HTTP providers", .timeLimit(.minutes(2)))
struct NetworkFaultHTTPTests {
    enum Kind: String, CaseIterable {
        case sendgrid, postmark, mailgun, elasticemail
    }

    static let cases: [(Kind, FaultProxy.Fault, ErrorClass)] = Kind.allCases.flatMap { kind in
        [(kind, FaultProxy.Fault.resetInBody, ErrorClass.transient), (kind, .resetAfterBody, .ambiguous)]
    }

    @Test(arguments: cases)
    func `a reset has the class of what went out before it`(kind: Kind, fault: FaultProxy.Fault, expected: ErrorClass) async throws {
        try await FakeProviderServer.run(answer: .respond(status: 500, body: "{}"), check: { _ in [] }) { server in
            let upstream = try #require(URL(string: server.endpoint))
            try await FaultProxy.with(upstream: "127.0.0.1:\(upstream.port!)", fault: fault.rawValue, protocol: .http) { port in
                try await withHTTPClient { client in
                    let provider = Self.provider(kind, endpoint: "http://127.0.0.1:\(port)", client: client)
                    // Too big to be written out before a reset in its body comes.
                    // (The small one has no inline image, which Elastic Email's API cannot send.)
                    let delivery = Samples.largeDelivery(bytes: fault == .resetInBody ? 8 << 20 : 1024)
                    let start = ContinuousClock.now
                    let failure = try await #require(throws: ProviderFailure.self) { try await provider.send(delivery) }
                    #expect(failure.errorClass == expected, "\(failure.code): \(failure.message)")
                    #expect(ContinuousClock.now - start < .seconds(10), "within the call's timeout")
                }
            }
        }
    }

    static func provider(_ kind: Kind, endpoint: String, client: HTTPClient) -> any EmailProvider {
        let timeout: Duration = .seconds(10)
        let large = 64 << 20
        return switch kind {
        case .sendgrid:
            SendGridProvider(
                name: "sendgrid",
                configuration: .init(apiKey: SendGridFormat.apiKey, endpoint: endpoint, timeout: timeout, maxMessageBytes: large),
                client: client)
        case .postmark:
            PostmarkProvider(
                name: "postmark",
                configuration: .init(
                    serverToken: PostmarkFormat.serverToken, endpoint: endpoint, timeout: timeout, maxMessageBytes: large),
                client: client)
        case .mailgun:
            MailgunProvider(
                name: "mailgun",
                configuration: .init(
                    apiKey: MailgunFormat.apiKey, domain: MailgunFormat.domain, endpoint: endpoint, timeout: timeout,
                    maxMessageBytes: large),
                client: client)
        case .elasticemail:
            ElasticEmailProvider(
                name: "elasticemail",
                configuration: .init(apiKey: ElasticEmailFormat.apiKey, endpoint: endpoint, timeout: timeout, maxMessageBytes: large),
                client: client)
        }
    }
}
