// HeraldServer wires one Herald process together: configuration in, concrete store and
// providers chosen, and the HTTP API and the dispatcher run as services of one group.
import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldConsole
import HeraldCore
import HeraldDelivery
import HeraldProviders
import HeraldStoreSQLite
import HeraldWebhooks
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle
import UnixSignals

/// A Herald process, built but not yet running.
public struct HeraldServer: Sendable {
    public let serviceGroup: ServiceGroup
    private let providers: ProviderRegistry
    private let httpClient: HTTPClient

    /// Opens the store, builds the providers and returns the services ready to run. SIGTERM and
    /// SIGINT start a graceful shutdown.
    public static func build(configuration: HeraldConfiguration, store: any HeraldStore, logger: Logger) async throws -> HeraldServer {
        let clock = SteadyWallClock()
        try await createFirstKey(in: store, now: clock.now)
        let httpClient = makeHTTPClient()
        // Delivery runs on one event loop: the dispatcher's rounds and the SMTP sessions they
        // use, so that a round and its session talk without a thread switch. Spread over every
        // loop, a round and its session were on different threads half the time.
        let deliveryLoop = MultiThreadedEventLoopGroup.singleton.next()
        let metrics = makeMetricsFactory()
        let events = ProviderEventIngest(
            store: store, policy: configuration.eventSuppression, clock: clock, metricsFactory: metrics, logger: logger)
        let providers: ProviderRegistry
        do {
            providers = try ProviderRegistry(
                configuration: configuration, store: store, clock: clock, httpClient: httpClient, events: events, logger: logger,
                smtpEventLoops: deliveryLoop)
            try await providers.restoreState()
        } catch {
            try await httpClient.shutdown()
            throw error
        }
        // Identifies this process's leases, of emails and of webhooks, in a shared store.
        let owner = "herald-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let dispatcher = Dispatcher(
            store: store,
            router: providers.router,
            configuration: .init(
                concurrency: configuration.dispatch.concurrency,
                pollInterval: configuration.dispatch.pollInterval,
                leaseDuration: configuration.dispatch.leaseDuration,
                retryPolicy: configuration.retry,
                owner: owner,
                taskExecutor: EventLoopTaskExecutor(deliveryLoop)
            ),
            clock: clock,
            metricsFactory: metrics,
            logger: logger
        )
        let state = ServiceState()
        var services: [any Service] = [events]
        let webhookKeys = try WebhookKeys.resolve(configuration, logger: logger)
        // A node that does not deliver emails delivers no webhooks either: it only accepts.
        if let sealer = webhookKeys.sealer, configuration.dispatch.enabled {
            services.append(
                WebhookDispatcher(
                    store: store, sealer: sealer,
                    configuration: .init(
                        concurrency: configuration.webhooks.concurrency, leaseDuration: configuration.webhooks.leaseDuration,
                        timeout: configuration.webhooks.timeout, owner: owner,
                        allowPrivateTargets: configuration.webhooks.allowPrivateTargets,
                        eventLoop: BackgroundEventLoop.shared, taskExecutor: EventLoopTaskExecutor(BackgroundEventLoop.shared)),
                    clock: clock, metricsFactory: metrics, logger: logger))
        }
        if configuration.dispatch.enabled {
            services += [
                dispatcher, LimitsRefresher(router: providers.router, interval: configuration.routing.limitsRefresh, logger: logger),
            ]
            if configuration.redrive.enabled {
                services.append(
                    Redriver(
                        store: store, router: providers.router, policy: configuration.redrive, clock: clock,
                        wakeDispatcher: { dispatcher.wake() }, logger: logger))
            }
        }
        if let shared = store as? any SharedEmailStore {
            services.append(
                SharedStoreFollower(
                    store: shared, dispatcher: dispatcher, router: providers.router, clock: clock, interval: sharedStateInterval,
                    logger: logger))
        }
        let application = try makeApplication(
            configuration: configuration, store: store, providers: providers, events: events, webhooks: webhookKeys, state: state,
            clock: clock, metrics: metrics, services: services,
            dispatchWatch: configuration.dispatch.enabled
                ? .init(timeSinceLastLease: { dispatcher.timeSinceLastLease }, stalledAfter: configuration.dispatch.stalledAfter) : nil,
            onAccepted: { dispatcher.wake() }, logger: logger
        )
        // Named here: without a name, the group describes each service with `"\(service)"`,
        // which for the application walks its whole router by reflection at every start.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: application, serviceName: "http"),
                .init(service: DrainGate(state: state, drain: configuration.shutdown.drain, logger: logger), serviceName: "drain-gate"),
                .init(
                    service: IdempotencyKeySweeper(store: store, clock: clock, interval: .seconds(3600), logger: logger),
                    serviceName: "idempotency-key-sweeper"),
                .init(service: IdleMemoryTrimmer(), serviceName: "idle-memory-trimmer"),
            ] + retentionPurge(configuration, store: store, clock: clock, logger: logger),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdown.deadline
        return HeraldServer(
            serviceGroup: ServiceGroup(configuration: groupConfiguration), providers: providers, httpClient: httpClient
        )
    }

    /// The retention purge, on a node that delivers and only when the policy removes anything:
    /// on PostgreSQL several nodes may purge at once, each taking its own rows.
    private static func retentionPurge(
        _ configuration: HeraldConfiguration, store: any HeraldStore, clock: any WallClock, logger: Logger
    ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard configuration.dispatch.enabled, !configuration.retention.scopes.isEmpty else { return [] }
        return [
            .init(
                service: RetentionPurge(store: store, policy: configuration.retention, clock: clock, logger: logger),
                serviceName: "retention-purge")
        ]
    }

    /// The HTTP application; the dispatcher runs as one of its services so that it stops after
    /// the listener has closed. `GET /metrics` shows what was recorded through `metrics`.
    public static func makeApplication(
        configuration: HeraldConfiguration,
        store: any HeraldStore,
        providers: any ProviderAdministration,
        events: any ProviderEventSink,
        webhooks: any WebhookSupport,
        state: ServiceState,
        clock: any WallClock,
        metrics: PrometheusMetricsFactory,
        services: [any Service],
        dispatchWatch: SystemController<HeraldRequestContext>.DispatchWatch? = nil,
        onAccepted: @escaping @Sendable () -> Void,
        logger: Logger
    ) throws -> some ApplicationProtocol {
        let router = Router(context: HeraldRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        let keys = APIKeyMiddleware<HeraldRequestContext>(
            store: store, defaultRatePerSecond: configuration.http.rateLimitPerSecond, clock: clock)
        let api = router.authenticatedAPI(keys)
        EmailsController(
            store: store, providers: providers, clock: clock, state: state, maxBodyBytes: configuration.http.maxBodyBytes,
            maxBatchEmails: configuration.http.maxBatchEmails, retention: configuration.retention, metricsFactory: metrics,
            onAccepted: onAccepted
        ).addRoutes(to: api)
        SuppressionsController(store: store, clock: clock).addRoutes(to: api)
        WebhooksController(store: store, support: webhooks, clock: clock).addRoutes(to: api)
        EventsController<HeraldRequestContext>(
            receivers: providers.eventReceivers, sink: events, clock: clock, maxBodyBytes: configuration.http.maxBodyBytes
        ).addRoutes(to: router)
        OpenAPIController().addRoutes(to: router)
        try ConsoleController<HeraldRequestContext>(
            dependencies: .init(
                store: store, providers: providers, clock: clock, servesTLS: configuration.http.tls != nil,
                renderMIME: { message, id, date in MIMEMessage.render(message, emailID: id, date: date) },
                onRequeued: onAccepted, sessionKey: configuration.console.sessionKey,
                sessionLifetime: configuration.console.sessionLifetime)
        ).addRoutes(to: router)
        let system = SystemController<HeraldRequestContext>(
            store: store, state: state, providers: providers, clock: clock, dispatch: dispatchWatch)
        system.addHealthRoutes(to: router)
        system.addRoutes(to: api)
        let metricsController = MetricsController<HeraldRequestContext>(
            store: store, providers: providers, clock: clock, metricsFactory: metrics,
            droppedLogLines: { LogOutput.standardOutput.droppedLines }, exposition: { metrics.registry.emitToBuffer() })
        if configuration.metrics.requireKey {
            metricsController.addRoutes(to: router.group().add(middleware: keys))
        } else {
            metricsController.addRoutes(to: router)
        }
        return Application(
            router: router,
            server: try serverBuilder(configuration.http),
            configuration: .init(
                address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "Herald",
                availableConnectionsDelegate: .maximum(configuration.http.maxConnections, logger: logger)),
            services: services,
            logger: logger
        )
    }

    /// How often a node on a shared store reads the send counts the others keep, and the
    /// provider states should a notice of their change be lost.
    static let sharedStateInterval: Duration = .milliseconds(500)

    /// Metrics for one process, in a registry of its own rather than the global one, so that
    /// tests that build several applications in parallel each count only their own.
    static func makeMetricsFactory() -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
        // Herald's only timer is the provider call: from a few milliseconds (a sandbox, a relay
        // nearby) to the default 30-second timeout.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        return factory
    }

    /// HTTP/1.1, over TLS when certificate and key files are configured.
    /// A connection idle for `http.idle_timeout_seconds` is closed, so that idle clients cannot
    /// hold the `http.max_connections` places for long.
    static func serverBuilder(_ http: HeraldConfiguration.HTTP) throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .nanoseconds(http.idleTimeout.nanoseconds)))
        guard let (certificateFile, keyFile) = http.tls else { return http1 }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        return try .tls(http1, tlsConfiguration: configuration)
    }

    /// With no key at all, makes an admin key for the default tenant and prints it, once: the
    /// API is never open without one, and a first `herald serve` still works at once.
    static func createFirstKey(in store: any APIKeyStore, now: Date) async throws {
        guard try await store.keys().isEmpty else { return }
        let (key, secret) = try await APIKeys.create(tenant: APIKey.defaultTenant, scope: .operator, in: store, now: now)
        let notice = """
            Herald has no API key yet, so it made one with the operator scope for tenant \(key.tenant) (id \(key.id)).
            It is shown only now; send it as Authorization: Bearer <key>:

                \(secret)


            """
        // Not `print`, which buffers fully when standard output is a pipe or a file (systemd, a
        // container): the key would sit in the buffer until exit.
        LogOutput.standardOutput.write(Array(notice.utf8))
    }

    /// The client every HTTP provider of a process shares; its owner shuts it down.
    static func makeHTTPClient() -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: .forProviders)
    }

    /// Runs until a graceful shutdown completes, then closes the providers' connections.
    public func run() async throws {
        do {
            try await serviceGroup.run()
        } catch {
            await providers.shutdown()
            try? await httpClient.shutdown()
            throw error
        }
        await providers.shutdown()
        try await httpClient.shutdown()
    }
}

/// The first service to hear of a graceful shutdown: it marks the process as draining (so
/// `/readyz` and new emails get 503) and holds the listener open for the drain period.
struct DrainGate: Service {
    let state: ServiceState
    let drain: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        state.startDraining()
        logger.info("draining", metadata: ["drain_ms": "\(drain.milliseconds)"])
        if drain > .zero {
            try? await Task.sleep(for: drain)
        }
    }
}
