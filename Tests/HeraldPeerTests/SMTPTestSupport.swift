import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// What aiosmtpd_server.py recorded for one message.
struct ReceivedMail: Decodable {
    var mailFrom: String
    var mailOptions: [String]
    var rcptTos: [String]
    var peerPort: Int
    var data: Data
    /// The next transaction's commands came with this message's final dot.
    var followedByCommands: Bool

    enum CodingKeys: String, CodingKey {
        case data
        case mailFrom = "mail_from"
        case mailOptions = "mail_options"
        case rcptTos = "rcpt_tos"
        case peerPort = "peer_port"
        case followedByCommands = "followed_by_commands"
    }

    /// Every message in the maildir whose bytes carry `X-Herald-Id: id`.
    static func all(for ids: Set<EmailID>) throws -> [EmailID: ReceivedMail] {
        let directory = URL(fileURLWithPath: try Peers.require("HERALD_TEST_AIOSMTPD_MAILDIR"))
        var found: [EmailID: ReceivedMail] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".json") {
            let mail = try JSONDecoder().decode(ReceivedMail.self, from: Data(contentsOf: directory.appendingPathComponent(file)))
            let text = String(decoding: mail.data, as: UTF8.self)
            if let id = ids.first(where: { text.contains("X-Herald-Id: \($0.rawValue)\r\n") }) { found[id] = mail }
        }
        return found
    }

    /// The message carrying `id`, once the server has written it; fails after `timeout`.
    static func waitFor(_ id: EmailID, timeout: Duration = .seconds(10)) async throws -> ReceivedMail {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let mail = try all(for: [id])[id] { return mail }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ReceivedMailNotFound(id: id)
    }
}

struct ReceivedMailNotFound: Error {
    let id: EmailID
}

extension Delivery {
    static func sample(_ message: EmailMessage = .sample()) -> Delivery {
        Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date())
    }
}

/// Runs `body` with a provider and shuts the provider's sessions down afterwards.
func withSMTPProvider<T>(
    _ configuration: SMTPProvider.Configuration, _ body: (SMTPProvider) async throws -> T
) async throws -> T {
    let provider = try SMTPProvider(name: "smtp-test", configuration: configuration)
    do {
        let result = try await body(provider)
        await provider.shutdown()
        return result
    } catch {
        await provider.shutdown()
        throw error
    }
}

/// The failure `body` throws, which must be a ProviderFailure.
func providerFailure(_ body: () async throws -> ProviderReceipt) async -> ProviderFailure? {
    do {
        _ = try await body()
        Issue.record("the send succeeded but should have failed")
        return nil
    } catch let failure as ProviderFailure {
        return failure
    } catch {
        Issue.record("expected a ProviderFailure, got \(error)")
        return nil
    }
}
