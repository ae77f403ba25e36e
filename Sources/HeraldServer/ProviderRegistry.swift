import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldCore
import HeraldDelivery
import HeraldProviders
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The configured providers, built from their settings, and the operator's view of them.
final class ProviderRegistry: ProviderAdministration {
    let router: ProviderRouter
    /// The providers whose events come to `/events/{name}`, by name.
    let eventReceivers: [String: any ProviderEventReceiver]
    private let sandboxes: [String: SandboxProvider]
    private let smtpProviders: [SMTPProvider]
    /// Clients made for one event receiver's own trust roots; shut down with the registry.
    private let eventClients: [HTTPClient]
    private let store: any EmailStore
    private let clock: any WallClock

    /// `httpClient` serves every provider that speaks HTTP; its owner shuts it down. SMTP
    /// sessions run on `smtpEventLoops`. Sandboxes report their simulated events to `events`.
    init(
        configuration: HeraldConfiguration, store: any EmailStore, clock: any WallClock, httpClient: HTTPClient,
        events: (any ProviderEventSink)? = nil, logger: Logger = Logger(label: "herald"),
        smtpEventLoops: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        var routes: [ProviderRouter.Route] = []
        var sandboxes: [String: SandboxProvider] = [:]
        var smtpProviders: [SMTPProvider] = []
        var receivers: [String: any ProviderEventReceiver] = [:]
        var eventClients: [HTTPClient] = []
        for setting in configuration.providers {
            let provider = try Self.makeProvider(setting, httpClient: httpClient, events: events, smtpEventLoops: smtpEventLoops)
            var receiverClient = httpClient
            if case .ses(let ses)? = setting.events, let caFile = ses.caFile {
                receiverClient = try Self.makeHTTPClient(trusting: caFile)
                eventClients.append(receiverClient)
            }
            receivers[setting.name] = Self.makeEventReceiver(setting, httpClient: receiverClient, logger: logger)
            if let sandbox = provider as? SandboxProvider { sandboxes[setting.name] = sandbox }
            if let smtp = provider as? SMTPProvider { smtpProviders.append(smtp) }
            routes.append(
                .init(
                    provider: provider, priority: setting.priority, timeout: setting.timeout, weight: setting.weight,
                    slowThreshold: setting.slowThreshold ?? configuration.routing.slowThreshold, ratePerSecond: setting.ratePerSecond,
                    quotas: setting.quotas))
        }
        self.router = ProviderRouter(
            routes: routes, breaker: configuration.breaker, policy: configuration.routing.policy,
            degradedProbeInterval: configuration.routing.degradedProbe, now: clock.now)
        self.eventReceivers = receivers
        self.eventClients = eventClients
        self.sandboxes = sandboxes
        self.smtpProviders = smtpProviders
        self.store = store
        self.clock = clock
    }

    /// The adapter for one provider's settings. Adapters read the system's wall clock as it is,
    /// not Herald's steady clock: what they time (a request's signature, a provider's reset
    /// time) is checked against the provider's clock.
    static func makeProvider(
        _ setting: HeraldConfiguration.ProviderSettings, httpClient: HTTPClient, events: (any ProviderEventSink)? = nil,
        smtpEventLoops: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws -> any EmailProvider {
        switch setting.kind {
        case .sandbox(let behavior):
            if case .simulated(let delay) = setting.events {
                SandboxProvider(name: setting.name, behavior: behavior, events: events, eventDelay: delay)
            } else {
                SandboxProvider(name: setting.name, behavior: behavior)
            }
        case .file(let directory):
            try FileProvider(name: setting.name, directory: URL(fileURLWithPath: directory))
        case .ses(let configuration):
            SESProvider(name: setting.name, configuration: configuration, client: httpClient)
        case .smtp(let configuration):
            try SMTPProvider(name: setting.name, configuration: configuration, eventLoopGroup: smtpEventLoops)
        case .sendgrid(let configuration):
            SendGridProvider(name: setting.name, configuration: configuration, client: httpClient)
        case .postmark(let configuration):
            PostmarkProvider(name: setting.name, configuration: configuration, client: httpClient)
        case .mailgun(let configuration):
            MailgunProvider(name: setting.name, configuration: configuration, client: httpClient)
        case .elasticEmail(let configuration):
            ElasticEmailProvider(name: setting.name, configuration: configuration, client: httpClient)
        }
    }

    /// The receiver of a provider's events; nil when they are not configured or simulated.
    static func makeEventReceiver(
        _ setting: HeraldConfiguration.ProviderSettings, httpClient: HTTPClient, logger: Logger
    ) -> (any ProviderEventReceiver)? {
        switch setting.events {
        case nil, .simulated?: nil
        case .ses(let configuration)?:
            SESEventReceiver(provider: setting.name, configuration: configuration, client: httpClient, logger: logger)
        case .sendGrid(let configuration)?: SendGridEventReceiver(provider: setting.name, configuration: configuration)
        case .mailgun(let configuration)?: MailgunEventReceiver(provider: setting.name, configuration: configuration)
        case .postmark(let configuration)?: PostmarkEventReceiver(provider: setting.name, configuration: configuration)
        case .elasticEmail(let configuration)?: ElasticEmailEventReceiver(provider: setting.name, configuration: configuration)
        }
    }

    /// Takes up the pauses, open breakers and send counts the store kept from earlier runs.
    func restoreState() async throws {
        let now = clock.now
        router.adopt(try await store.providerStates(), sends: try await store.sendCounts(at: now), now: now)
    }

    func setPaused(_ paused: Bool, provider name: String) async throws -> ProviderStatus {
        guard let state = router.setPaused(paused, provider: name, now: clock.now) else { throw APIError.notFound("provider \(name)") }
        try await store.saveProviderState(state)
        return router.statuses(now: clock.now).first { $0.name == name }!
    }

    /// Closes the connections that providers keep open between emails.
    func shutdown() async {
        for smtp in smtpProviders { await smtp.shutdown() }
        for client in eventClients { try? await client.shutdown() }
    }

    /// A client like the providers' that trusts the certificates in `caFile` only.
    static func makeHTTPClient(trusting caFile: String) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration.forProviders
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func statuses() -> [ProviderStatus] {
        router.statuses(now: clock.now).map { status in
            var status = status
            status.sandbox = sandboxes[status.name]?.behavior
            return status
        }
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
