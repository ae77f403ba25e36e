import Foundation
import HeraldCore
import HeraldProviders

extension HeraldConfiguration {
    /// How a provider's events reach Herald: simulated by a sandbox, or through
    /// `POST /events/{name}` checked by the provider's own scheme.
    public enum EventReception: Sendable {
        case simulated(delay: Duration)
        case ses(SESEventReceiver.Configuration)
        case sendGrid(SendGridEventReceiver.Configuration)
        case mailgun(MailgunEventReceiver.Configuration)
        case postmark(PostmarkEventReceiver.Configuration)
        case elasticEmail(ElasticEmailEventReceiver.Configuration)
    }

    /// How long after a send a sandbox reports its simulated events, unless `events.delay_ms`
    /// says otherwise: late enough that the send is recorded first, as with a real provider.
    public static let simulatedEventDelay: Duration = .milliseconds(simulatedEventDelayMilliseconds)
    static let simulatedEventDelayMilliseconds = 200

    /// `providers.N.events.*`: each provider type's credentials for its events. A provider
    /// whose events are not configured has no endpoint (404). Sandboxes report events unless
    /// `events.simulate` is false.
    static func eventReception(
        _ settings: SettingsReader, prefix: String, kind: ProviderSettings.Kind
    ) throws(ConfigurationError) -> EventReception? {
        func maxAge() throws(ConfigurationError) -> Duration {
            try settings.seconds("\(prefix).max_age_seconds", default: 300, in: 1...86_400)
        }
        switch kind {
        case .sandbox:
            guard try settings.bool("\(prefix).simulate", default: true) else { return nil }
            let delay = try settings.int("\(prefix).delay_ms", default: simulatedEventDelayMilliseconds, in: 0...600_000)
            return .simulated(delay: .milliseconds(delay))
        case .ses(let ses):
            guard try settings.bool("\(prefix).enabled", default: false) else { return nil }
            let hosts = try settings.optionalStrings("\(prefix).allowed_hosts").map { Set($0.map { $0.lowercased() }) }
            let topics = try settings.optionalStrings("\(prefix).topic_arns").map(Set.init)
            let caFile = try settings.optionalString("\(prefix).ca_file")
            if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                throw ConfigurationError(key: "\(prefix).ca_file", problem: "cannot read \(caFile)")
            }
            return .ses(SESEventReceiver.Configuration(region: ses.region, allowedHosts: hosts, topicARNs: topics, caFile: caFile))
        case .sendgrid:
            guard let text = try settings.secret("\(prefix).public_key") else { return nil }
            guard let key = SendGridEventReceiver.Configuration.publicKey(from: text) else {
                throw ConfigurationError(key: "\(prefix).public_key", problem: "is not a P-256 public key in base64 DER or PEM")
            }
            return .sendGrid(SendGridEventReceiver.Configuration(publicKey: key, maxAge: try maxAge()))
        case .mailgun:
            guard let key = try settings.secret("\(prefix).signing_key") else { return nil }
            guard !key.isEmpty else { throw ConfigurationError(key: "\(prefix).signing_key", problem: "is empty") }
            return .mailgun(MailgunEventReceiver.Configuration(signingKey: key, maxAge: try maxAge()))
        case .postmark:
            let username = try settings.optionalString("\(prefix).username")
            let password = try settings.secret("\(prefix).password")
            switch (username, password) {
            case (nil, nil): return nil
            case (let username?, let password?) where !username.isEmpty && password.count >= 16:
                return .postmark(PostmarkEventReceiver.Configuration(username: username, password: password))
            case (_?, _?):
                throw ConfigurationError(key: "\(prefix).password", problem: "must be at least 16 characters, with a username")
            case (nil, _): throw ConfigurationError(key: "\(prefix).username", problem: "is required with events.password")
            case (_, nil): throw ConfigurationError(key: "\(prefix).password", problem: "is required with events.username")
            }
        case .elasticEmail:
            guard let secret = try settings.secret("\(prefix).secret") else { return nil }
            guard secret.count >= 16 else { throw ConfigurationError(key: "\(prefix).secret", problem: "must be at least 16 characters") }
            return .elasticEmail(ElasticEmailEventReceiver.Configuration(secret: secret))
        case .smtp, .file:
            return nil
        }
    }

    /// `events.*`: which events put a recipient on its tenant's suppression list.
    static func eventSuppression(_ settings: SettingsReader) throws(ConfigurationError) -> EventSuppressionPolicy {
        let softBounceLimit = try settings.int("events.soft_bounce_limit", default: 3, in: 0...1000)
        return EventSuppressionPolicy(
            hardBounces: try settings.bool("events.suppress_hard_bounces", default: true),
            complaints: try settings.bool("events.suppress_complaints", default: true),
            unsubscribes: try settings.bool("events.suppress_unsubscribes", default: false),
            softBounceLimit: softBounceLimit == 0 ? nil : softBounceLimit,
            softBounceWindow: try settings.seconds("events.soft_bounce_window_hours", default: 72, in: 0.001...8760) * 3600)
    }
}
