import Foundation
import HeraldCore
import HeraldProviders
import Testing

/// Each provider's check of its credentials, then one real email through it. These run only
/// when the credentials are in the environment, since they need an account and send real mail;
/// otherwise the run lists them as skipped with the variables they need.
@Suite("Live providers")
struct LiveProviderTests {
    static let environment = ProcessInfo.processInfo.environment

    static func has(_ names: String...) -> Bool {
        (names + ["HERALD_LIVE_FROM", "HERALD_LIVE_TO"]).allSatisfy { environment[$0].map { !$0.isEmpty } ?? false }
    }

    static func delivery(_ provider: String) throws -> Delivery {
        let message = EmailMessage(
            from: try EmailAddress(parsing: environment["HERALD_LIVE_FROM"] ?? ""),
            to: [try EmailAddress(parsing: environment["HERALD_LIVE_TO"] ?? "")],
            subject: "Herald live check through \(provider)",
            text: "Sent by Herald's live provider tests.",
            html: "<p>Sent by Herald's live provider tests.</p>",
            tags: ["herald-live-check"]
        )
        return Delivery(emailID: EmailID(), attempt: 1, message: message, acceptedAt: Date())
    }

    // Sends a real email: needs a SendGrid API key with Mail Send and a verified sender.
    @Test(
        .enabled(
            if: LiveProviderTests.has("HERALD_LIVE_SENDGRID_KEY"), "needs HERALD_LIVE_SENDGRID_KEY, HERALD_LIVE_FROM and HERALD_LIVE_TO"))
    func `SendGrid accepts a real email`() async throws {
        try await withHTTPClient { client in
            let provider = SendGridProvider(
                name: "sendgrid-live", configuration: .init(apiKey: Self.environment["HERALD_LIVE_SENDGRID_KEY"] ?? ""), client: client
            )
            #expect(try await provider.verify())
            let receipt = try await provider.send(try Self.delivery("SendGrid"))
            #expect(receipt.providerMessageID?.isEmpty == false)
        }
    }

    // Sends a real email: needs a Postmark server token and a confirmed sender signature.
    @Test(
        .enabled(
            if: LiveProviderTests.has("HERALD_LIVE_POSTMARK_TOKEN"), "needs HERALD_LIVE_POSTMARK_TOKEN, HERALD_LIVE_FROM and HERALD_LIVE_TO"
        ))
    func `Postmark accepts a real email`() async throws {
        try await withHTTPClient { client in
            let provider = PostmarkProvider(
                name: "postmark-live", configuration: .init(serverToken: Self.environment["HERALD_LIVE_POSTMARK_TOKEN"] ?? ""),
                client: client
            )
            #expect(try await provider.verify())
            let receipt = try await provider.send(try Self.delivery("Postmark"))
            #expect(receipt.providerMessageID?.isEmpty == false)
        }
    }

    // Sends a real email: needs a Mailgun API key and a sending domain set up in that account
    // and region.
    @Test(
        .enabled(
            if: LiveProviderTests.has("HERALD_LIVE_MAILGUN_KEY", "HERALD_LIVE_MAILGUN_DOMAIN"),
            "needs HERALD_LIVE_MAILGUN_KEY, HERALD_LIVE_MAILGUN_DOMAIN (and HERALD_LIVE_MAILGUN_REGION for eu), HERALD_LIVE_FROM and HERALD_LIVE_TO"
        )
    )
    func `Mailgun accepts a real email`() async throws {
        try await withHTTPClient { client in
            let configuration = MailgunProvider.Configuration(
                apiKey: Self.environment["HERALD_LIVE_MAILGUN_KEY"] ?? "", domain: Self.environment["HERALD_LIVE_MAILGUN_DOMAIN"] ?? "",
                region: MailgunProvider.Region(rawValue: Self.environment["HERALD_LIVE_MAILGUN_REGION"] ?? "us") ?? .us
            )
            let provider = MailgunProvider(name: "mailgun-live", configuration: configuration, client: client)
            #expect(try await provider.verify())
            let receipt = try await provider.send(try Self.delivery("Mailgun"))
            #expect(receipt.providerMessageID?.isEmpty == false)
        }
    }

    // Sends a real email: needs an Elastic Email API key with the SendHttp access level, and
    // ViewSettings for the check.
    @Test(
        .enabled(
            if: LiveProviderTests.has("HERALD_LIVE_ELASTICEMAIL_KEY"),
            "needs HERALD_LIVE_ELASTICEMAIL_KEY, HERALD_LIVE_FROM and HERALD_LIVE_TO"))
    func `Elastic Email accepts a real email`() async throws {
        try await withHTTPClient { client in
            let provider = ElasticEmailProvider(
                name: "elasticemail-live", configuration: .init(apiKey: Self.environment["HERALD_LIVE_ELASTICEMAIL_KEY"] ?? ""),
                client: client
            )
            #expect(try await provider.verify())
            let receipt = try await provider.send(try Self.delivery("Elastic Email"))
            #expect(receipt.providerMessageID?.isEmpty == false)
        }
    }
}
