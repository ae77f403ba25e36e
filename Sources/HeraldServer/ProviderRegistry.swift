import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldCore
import HeraldDelivery
import HeraldProviders
import Hummingbird

/// The configured providers, built from their settings, and the operator's view of them.
final class ProviderRegistry: ProviderAdministration {
    let router: ProviderRouter
    private let sandboxes: [String: SandboxProvider]
    private let smtpProviders: [SMTPProvider]
    private let clock: any WallClock

    /// `httpClient` serves every provider that speaks HTTP; its owner shuts it down.
    init(
        settings: [HeraldConfiguration.ProviderSettings], breaker: CircuitBreaker.Configuration, clock: any WallClock,
        httpClient: HTTPClient
    ) throws {
        var routes: [ProviderRouter.Route] = []
        var sandboxes: [String: SandboxProvider] = [:]
        var smtpProviders: [SMTPProvider] = []
        for setting in settings {
            let provider: any EmailProvider
            switch setting.kind {
            case .sandbox(let behavior):
                let sandbox = SandboxProvider(name: setting.name, behavior: behavior)
                sandboxes[setting.name] = sandbox
                provider = sandbox
            case .file(let directory):
                provider = try FileProvider(name: setting.name, directory: URL(fileURLWithPath: directory))
            case .ses(let configuration):
                provider = SESProvider(name: setting.name, configuration: configuration, client: httpClient, clock: clock)
            case .smtp(let configuration):
                let smtp = try SMTPProvider(name: setting.name, configuration: configuration)
                smtpProviders.append(smtp)
                provider = smtp
            case .sendgrid(let configuration):
                provider = SendGridProvider(name: setting.name, configuration: configuration, client: httpClient, clock: clock)
            case .postmark(let configuration):
                provider = PostmarkProvider(name: setting.name, configuration: configuration, client: httpClient)
            case .mailgun(let configuration):
                provider = MailgunProvider(name: setting.name, configuration: configuration, client: httpClient)
            case .elasticEmail(let configuration):
                provider = ElasticEmailProvider(name: setting.name, configuration: configuration, client: httpClient)
            }
            routes.append(.init(provider: provider, priority: setting.priority, timeout: setting.timeout))
        }
        self.router = ProviderRouter(routes: routes, breaker: breaker)
        self.sandboxes = sandboxes
        self.smtpProviders = smtpProviders
        self.clock = clock
    }

    /// Closes the connections that providers keep open between emails.
    func shutdown() async {
        for smtp in smtpProviders { await smtp.shutdown() }
    }

    func statuses() -> [ProviderStatus] {
        router.statuses(now: clock.now)
    }

    func supportedOptions(forProvider nameOrType: String) -> Set<String>? {
        let providers = router.routes.map(\.provider).filter { $0.name == nameOrType || $0.kind == nameOrType }
        guard !providers.isEmpty else { return nil }
        return providers.reduce(into: Set<String>()) { $0.formUnion($1.supportedOptions) }
    }

    func updateSandbox(named name: String, to behavior: SandboxBehavior) throws(APIError) {
        guard let sandbox = sandboxes[name] else {
            if router.routes.contains(where: { $0.name == name }) {
                throw APIError(.conflict, code: "not_a_sandbox", message: "provider \(name) is not a sandbox provider")
            }
            throw APIError.notFound("provider \(name)")
        }
        sandbox.update(behavior)
    }
}
