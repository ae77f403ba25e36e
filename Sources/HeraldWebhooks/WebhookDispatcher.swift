import AsyncHTTPClient
import Crypto
import Foundation
import HeraldCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers the webhook messages of the stores' outbox to the tenants' endpoints: leases due
/// deliveries, signs each message (``WebhookSignature``), posts it, and records every attempt
/// with what comes next (``WebhookRetryPolicy``).
///
/// At least once: a message is marked delivered only after its endpoint answered 2xx, so a
/// crash between the answer and the record sends it again, with the same `webhook-id`.
public final class WebhookDispatcher: Service {
    public struct Configuration: Sendable {
        /// Deliveries in flight at most.
        public var concurrency: Int
        public var pollInterval: Duration
        /// How long a delivery stays leased; longer than the request timeout.
        public var leaseDuration: Duration
        public var timeout: Duration
        public var owner: String
        /// Lets endpoints on loopback, private and link-local addresses receive webhooks; off,
        /// such targets are refused.
        public var allowPrivateTargets: Bool
        public var retryPolicy: WebhookRetryPolicy
        /// Where the endpoints' connections live and the deliveries run; nil for NIO's shared
        /// loops and Swift's global executor. A loop on a thread of lower priority lets
        /// webhooks wait while accepting and sending emails need every CPU.
        public var eventLoop: (any EventLoop)?
        public var taskExecutor: (any TaskExecutor)?

        public init(
            concurrency: Int = 64, pollInterval: Duration = .milliseconds(250), leaseDuration: Duration = .seconds(60),
            timeout: Duration = .seconds(15), owner: String, allowPrivateTargets: Bool = false, retryPolicy: WebhookRetryPolicy = .standard,
            eventLoop: (any EventLoop)? = nil, taskExecutor: (any TaskExecutor)? = nil
        ) {
            self.concurrency = concurrency
            self.pollInterval = pollInterval
            self.leaseDuration = leaseDuration
            self.timeout = timeout
            self.owner = owner
            self.allowPrivateTargets = allowPrivateTargets
            self.retryPolicy = retryPolicy
            self.eventLoop = eventLoop
            self.taskExecutor = taskExecutor
        }
    }

    let store: any WebhookStore
    let sealer: SecretSealer
    let connections: WebhookConnections
    let configuration: Configuration
    let clock: any WallClock
    let logger: Logger
    private let running = Atomic<Int>(0)
    private let isStopping = Atomic<Bool>(false)
    /// Rung when a delivery ends, for a loop that waits with every place taken.
    private let placeFreed = Doorbell()
    private let outcomes: Mutex<[String: Counter]> = Mutex([:])
    /// Each endpoint's breaker, on this node: five failures in a row open it for 30 s, in
    /// which its messages wait without a try, so that a dead endpoint costs one statement per
    /// message instead of a place for up to the timeout.
    private let breakers = Mutex<[String: CircuitBreaker]>([:])
    static let breakerConfiguration = CircuitBreaker.Configuration(
        failureRateThreshold: 0.5, minimumCalls: 10, consecutiveFailures: 5, window: .seconds(60), openDuration: .seconds(30),
        halfOpenProbes: 1, slowCallThreshold: .seconds(3600))
    private let factory: any MetricsFactory
    /// Places leased at once while deliveries are in flight: a quarter of them.
    private var leaseBatch: Int { max(1, configuration.concurrency / 4) }

    /// `metricsFactory` receives `herald_webhook_deliveries_total{outcome}`.
    public init(
        store: any WebhookStore, sealer: SecretSealer, configuration: Configuration, clock: any WallClock,
        metricsFactory: any MetricsFactory, logger: Logger
    ) {
        self.store = store
        self.sealer = sealer
        // Never a redirect: its target was not checked.
        var client = HTTPClient.Configuration(timeout: .init(connect: .seconds(3)))
        client.redirectConfiguration = .disallow
        self.connections = WebhookConnections(
            configuration: client, allowPrivate: configuration.allowPrivateTargets, requestTimeout: configuration.timeout,
            eventLoops: configuration.eventLoop)
        self.configuration = configuration
        self.clock = clock
        self.factory = metricsFactory
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var backoff: Duration = .zero
                var lastLease = ContinuousClock.now
                while !isStopping.load(ordering: .relaxed) {
                    let free = configuration.concurrency - running.load(ordering: .relaxed)
                    // While deliveries are slow to end (CPU goes to accepts first, or endpoints are
                    // slow), a lease per freed place would cost the store's writer a statement per
                    // message: places are leased a quarter at a time, or once per poll interval.
                    let fewFree = free < leaseBatch
                    guard free > 0, !fewFree || ContinuousClock.now - lastLease >= configuration.pollInterval else {
                        await placeFreed.wait(upTo: configuration.pollInterval)
                        continue
                    }
                    lastLease = ContinuousClock.now
                    let leased: [WebhookDelivery]
                    do {
                        leased = try await store.leaseWebhookDeliveries(
                            limit: free, owner: configuration.owner, now: clock.now, duration: configuration.leaseDuration)
                        backoff = .zero
                    } catch {
                        backoff = min(.seconds(5), max(.milliseconds(100), backoff * 2))
                        logger.warning("could not lease webhook deliveries", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: backoff)
                        continue
                    }
                    if leased.isEmpty {
                        try? await Task.sleep(for: configuration.pollInterval)
                        continue
                    }
                    for delivery in leased {
                        running.add(1, ordering: .relaxed)
                        group.addTask(executorPreference: configuration.taskExecutor) {
                            await self.deliver(delivery)
                            // Rung once, when enough places are free for a lease: a ring per
                            // delivery woke the loop only to wait again.
                            let running = self.running.subtract(1, ordering: .relaxed).newValue
                            if self.configuration.concurrency - running == self.leaseBatch { self.placeFreed.ring() }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.isStopping.store(true, ordering: .relaxed)
        }
        await connections.shutdown()
    }

    /// One attempt (sign, post, record), unless the endpoint's breaker is open: then the
    /// message waits until it may try again.
    func deliver(_ delivery: WebhookDelivery) async {
        let now = clock.now
        let permit = breakers.withLock { breakers in
            breakers[delivery.endpointID, default: CircuitBreaker(configuration: Self.breakerConfiguration)].acquire(now: now)
        }
        guard let permit else {
            let until = breakers.withLock { breakers -> Date in
                if case .open(let until) = breakers[delivery.endpointID]?.state(at: now) { return until }
                return now.addingTimeInterval(1)
            }
            do {
                try await store.postponeWebhookDelivery(messageID: delivery.messageID, endpointID: delivery.endpointID, until: until)
            } catch {
                logger.warning(
                    "could not postpone a webhook message", metadata: ["webhook.id": "\(delivery.messageID)", "error": "\(error)"])
            }
            return
        }
        let next = await attempt(delivery)
        breakers.withLock { breakers in
            breakers[delivery.endpointID]?.record(next == .delivered ? .success : .failure, latency: .zero, permit: permit, now: clock.now)
        }
    }

    /// Signs, posts and records one attempt; returns what comes next.
    private func attempt(_ delivery: WebhookDelivery) async -> WebhookAttempt.Next {
        let number = delivery.attempts + 1
        let started = ContinuousClock.now
        let at = clock.now
        var answer = WebhookRetryPolicy.Answer.none
        var response: String?
        var failure: String?
        var refusedTarget: String?
        do {
            try WebhookTarget.check(delivery.url, allowPrivate: configuration.allowPrivateTargets)
            let keys = try delivery.sealedSecrets.map { sealed in
                guard let key = WebhookSignature.key(ofSecret: try sealer.open(sealed)) else {
                    throw WebhookKeyError("a stored secret is not a whsec_ secret")
                }
                return key
            }
            let timestamp = Int(at.timeIntervalSince1970)
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "Herald-Webhooks")
            request.headers.add(name: "webhook-id", value: delivery.messageID)
            request.headers.add(name: "webhook-timestamp", value: "\(timestamp)")
            request.headers.add(
                name: "webhook-signature",
                value: WebhookSignature.header(id: delivery.messageID, timestamp: timestamp, body: delivery.body, keys: keys))
            request.body = .bytes(ByteBuffer(bytes: delivery.body))
            let client = try await connections.client(for: delivery.url)
            let reply = try await client.execute(request, timeout: .nanoseconds(configuration.timeout.nanoseconds))
            let body = try await reply.body.collect(upTo: 64 * 1024)
            response = String(decoding: body.readableBytesView.prefix(WebhookAttempt.maxResponseBytes), as: UTF8.self)
            let retryAfter = reply.headers.first(name: "Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                .flatMap { CheckedNumber.waitHint(seconds: $0) }
            answer = .status(Int(reply.status.code), retryAfter: retryAfter)
        } catch let refused as WebhookTarget.Refusal {
            failure = refused.description
            refusedTarget = refused.description
        } catch {
            failure = Self.describe(error)
            // No answer from this address: the next try goes to another of the host's.
            if !(error is WebhookConnections.ResolutionFailure) { await connections.setAside(addressOf: delivery.url) }
        }
        var generator = SystemRandomNumberGenerator()
        // A refused target will be refused on every try: the endpoint is disabled with the reason.
        let next =
            refusedTarget.map { WebhookAttempt.Next.failed(disableEndpoint: $0) }
            ?? configuration.retryPolicy.next(
                afterAttempt: number, answer: answer, now: clock.now, failingSince: delivery.endpointFailingSince, using: &generator)
        let statusCode: Int? = if case .status(let code, _) = answer { code } else { nil }
        let made = WebhookAttempt(
            messageID: delivery.messageID, endpointID: delivery.endpointID, number: number, at: at, statusCode: statusCode,
            latencyMilliseconds: Int((ContinuousClock.now - started).timeInterval * 1000), response: response, error: failure, next: next)
        count(next)
        do {
            try await store.recordWebhookAttempt(made)
        } catch {
            // The lease runs out and the message is sent again: at least once.
            logger.warning(
                "could not record a webhook attempt", metadata: ["webhook.id": "\(delivery.messageID)", "error": "\(error)"])
        }
        return next
    }

    private func count(_ next: WebhookAttempt.Next) {
        let outcome =
            switch next {
            case .delivered: "delivered"
            case .retry: "retry"
            case .failed: "failed"
            }
        outcomes.withLock { counters in
            if counters[outcome] == nil {
                counters[outcome] = Counter(label: "herald_webhook_deliveries_total", dimensions: [("outcome", outcome)], factory: factory)
            }
            return counters[outcome]!
        }.increment()
    }

    /// An error as the delivery log shows it: its kind, never a URL's credentials.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout: "timeout"
        case let error as HTTPClientError: "http_client: \(error.shortDescription)"
        case let error as WebhookKeyError: "secret: \(error.description)"
        case let error as WebhookConnections.ResolutionFailure: "dns: \(error.description)"
        default: "\(type(of: error))"
        }
    }
}
