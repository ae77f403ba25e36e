import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// The SMTP provider against Postfix's smtp-sink, plain and with the faults that
/// scripts/peers/smtp.sh injects: rejections, hang-ups and a slow reply to the final dot.
@Suite("SMTP provider against smtp-sink")
struct SMTPProviderSinkTests {
    private func configuration(_ variable: String) throws -> SMTPProvider.Configuration {
        SMTPProvider.Configuration(
            host: "127.0.0.1", port: Int(try Peers.require(variable))!, tls: .none, heloName: "herald.test",
            timeouts: .init(dataEnd: .seconds(1)))
    }

    private func failure(_ variable: String) async throws -> ProviderFailure? {
        let message = EmailMessage(
            from: EmailAddress(address: "ada@example.org"),
            to: [EmailAddress(address: "bob@example.com"), EmailAddress(address: "carol@example.com")], subject: "Hi", text: "Hi")
        return try await withSMTPProvider(try configuration(variable)) { provider in
            await providerFailure { try await provider.send(.sample(message)) }
        }
    }

    @Test(arguments: [
        ("HERALD_TEST_SMTP_SINK_RCPT_HARD_PORT", ErrorClass.recipient, "smtp_550_5.1.1"),
        ("HERALD_TEST_SMTP_SINK_RCPT_SOFT_PORT", .transient, "smtp_450_4.3.0"),
        ("HERALD_TEST_SMTP_SINK_DATA_HARD_PORT", .permanent, "smtp_554_5.7.1"),
        ("HERALD_TEST_SMTP_SINK_MAIL_421_PORT", .transient, "smtp_421_4.0.0"),
        ("HERALD_TEST_SMTP_SINK_RCPT_DROP_PORT", .transient, "smtp_connection_closed"),
        ("HERALD_TEST_SMTP_SINK_DOT_DROP_PORT", .ambiguous, "smtp_connection_closed_after_data"),
        ("HERALD_TEST_SMTP_SINK_DOT_SLOW_PORT", .ambiguous, "smtp_timeout_after_data"),
    ])
    func `each injected fault has its class`(variable: String, expected: ErrorClass, code: String) async throws {
        let failure = try await failure(variable)
        #expect(failure?.errorClass == expected)
        #expect(failure?.code == code)
    }

    @Test func `the call's deadline cuts the wait for the final reply short, as ambiguous`() async throws {
        var configuration = try configuration("HERALD_TEST_SMTP_SINK_DOT_SLOW_PORT")
        configuration.timeouts = .init(dataEnd: .seconds(60))
        let failure = try await withSMTPProvider(configuration) { provider in
            // The session is open before the call starts, so that all of its time goes to the dialogue.
            _ = try await provider.verify()
            var delivery = Delivery.sample()
            delivery.deadline = .now.advanced(by: .seconds(2))
            return await providerFailure { try await provider.send(delivery) }
        }
        #expect(failure?.errorClass == .ambiguous)
        #expect(failure?.code == "smtp_timeout_after_data")
    }

    /// Sends `count` messages at once over one session, so that all but the first follow the
    /// one before them, and returns each call's failure.
    private func failuresOfConcurrentSends(_ variable: String, count: Int) async throws -> [ProviderFailure?] {
        var configuration = try configuration(variable)
        configuration.maxConnections = 1
        return try await withSMTPProvider(configuration) { provider in
            await withTaskGroup(of: ProviderFailure?.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        do {
                            _ = try await provider.send(.sample())
                            return nil
                        } catch {
                            return error as? ProviderFailure
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    @Test func `a refusal of a message's final dot is that message's alone, not its follower's`() async throws {
        let failures = try await failuresOfConcurrentSends("HERALD_TEST_SMTP_SINK_DATA_HARD_PORT", count: 5)
        #expect(failures.map { $0?.code } == Array(repeating: "smtp_554_5.7.1", count: 5))
    }

    @Test func `a hang-up after a message's final dot leaves its followers unsent and free to try again`() async throws {
        let failures = try await failuresOfConcurrentSends("HERALD_TEST_SMTP_SINK_DOT_DROP_PORT", count: 5)
        // Each message whose dot went out may have been delivered; a follower whose commands
        // were cut off never sent its message, so it is only transient, after trying another
        // session (which may hang up on it the same way).
        for failure in failures {
            let failure = try #require(failure)
            if failure.errorClass == .ambiguous {
                #expect(failure.code == "smtp_connection_closed_after_data")
            } else {
                #expect(failure.errorClass == .transient)
                #expect(["smtp_connection_closed", "smtp_no_session"].contains(failure.code))
            }
        }
        #expect(failures.contains { $0?.errorClass == .ambiguous })
    }

    @Test func `a refused connection is transient`() async throws {
        // Port 1 (tcpmux) has no listener on a test machine.
        let configuration = SMTPProvider.Configuration(host: "127.0.0.1", port: 1, tls: .none)
        let failure = try await withSMTPProvider(configuration) { provider in
            await providerFailure { try await provider.send(.sample()) }
        }
        #expect(failure?.errorClass == .transient)
        #expect(failure?.code == "smtp_connect_failed")
    }

    @Test func `STARTTLS required but not offered is provider_fatal`() async throws {
        var configuration = try configuration("HERALD_TEST_SMTP_SINK_PORT")
        configuration.tls = .startTLS
        let failure = try await withSMTPProvider(configuration) { provider in
            await providerFailure { try await provider.send(.sample()) }
        }
        #expect(failure?.errorClass == .providerFatal)
        #expect(failure?.code == "smtp_starttls_unavailable")
    }

    @Test func `a failed connection is discarded, so the next send fails the same way rather than on a stale session`() async throws {
        try await withSMTPProvider(try configuration("HERALD_TEST_SMTP_SINK_RCPT_DROP_PORT")) { provider in
            for _ in 0..<3 {
                let failure = await providerFailure { try await provider.send(.sample()) }
                #expect(failure?.code == "smtp_connection_closed")
            }
        }
    }

    @Test func `hundreds of pipelined messages go through a few pooled connections`() async throws {
        var configuration = try configuration("HERALD_TEST_SMTP_SINK_PORT")
        configuration.maxConnections = 3
        configuration.timeouts = .init()
        try await withSMTPProvider(configuration) { provider in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<300 {
                    group.addTask { _ = try await provider.send(.sample()) }
                }
                try await group.waitForAll()
            }
        }
    }
}
