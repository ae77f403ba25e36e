// HeraldDelivery moves accepted emails out: it leases due emails from the store, picks a
// provider for each attempt, and records every attempt and its outcome.
import Foundation
import HeraldCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Leases due emails and delivers each through the providers, with bounded concurrency.
///
/// A delivery round tries the providers in the router's order until one takes the email.
/// Every attempt is written to the store before the provider is called, so an attempt cut
/// short by a crash is found later and recorded as `ambiguous`. When no provider takes the
/// email, the round ends with the email deferred by the retry policy, or failed.
///
/// On graceful shutdown the dispatcher stops leasing, lets the rounds in flight finish, and
/// hands back its leases. Rounds still running when the service group's deadline passes are
/// cancelled; their attempts are recorded as `ambiguous` and the emails are due again at once.
public final class Dispatcher: Service {
    public struct Configuration: Sendable {
        /// Rounds in flight at most.
        public var concurrency: Int
        /// How often to look for due emails when nothing wakes the dispatcher sooner.
        public var pollInterval: Duration
        /// How long a lease lasts; longer than any provider timeout.
        public var leaseDuration: Duration
        public var retryPolicy: RetryPolicy
        /// Identifies this process's leases in a shared store.
        public var owner: String
        /// Where the rounds run; nil for Swift's global executor. The thread that does the
        /// providers' I/O saves a thread switch per reply.
        public var taskExecutor: (any TaskExecutor)?

        public init(
            concurrency: Int, pollInterval: Duration, leaseDuration: Duration, retryPolicy: RetryPolicy, owner: String,
            taskExecutor: (any TaskExecutor)? = nil
        ) {
            self.concurrency = concurrency
            self.pollInterval = pollInterval
            self.leaseDuration = leaseDuration
            self.retryPolicy = retryPolicy
            self.owner = owner
            self.taskExecutor = taskExecutor
        }
    }

    let store: any EmailStore
    /// The store again when several nodes share it; looked up once rather than cast per attempt.
    let sharedStore: (any SharedEmailStore)?
    let router: ProviderRouter
    let configuration: Configuration
    let clock: any WallClock
    let metrics: DeliveryMetrics
    let logger: Logger
    private let doorbell = Doorbell()
    private let inFlight = Atomic<Int>(0)
    private let isStopping = Atomic<Bool>(false)

    /// `metricsFactory` receives the delivery metrics (see ``DeliveryMetrics``).
    public init(
        store: any EmailStore, router: ProviderRouter, configuration: Configuration, clock: any WallClock,
        metricsFactory: any MetricsFactory, logger: Logger
    ) {
        self.store = store
        self.sharedStore = store as? any SharedEmailStore
        self.router = router
        self.configuration = configuration
        self.clock = clock
        self.metrics = DeliveryMetrics(factory: metricsFactory)
        self.logger = logger
    }

    /// Tells the dispatcher that an email may be due now.
    public func wake() {
        doorbell.ring()
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !isStopping.load(ordering: .relaxed) {
                    let leased = await leaseWhenWorthwhile()
                    for email in leased {
                        inFlight.add(1, ordering: .relaxed)
                        group.addTask(executorPreference: configuration.taskExecutor) {
                            await self.deliver(email)
                            let running = self.inFlight.subtract(1, ordering: .relaxed).newValue
                            // Only the round that frees enough slots for a lease wakes the loop:
                            // waking it for every email cost more than the wake-up found to do.
                            if self.configuration.concurrency - running == self.leaseThreshold { self.doorbell.ring() }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.isStopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
        do {
            try await store.releaseLeases(owner: configuration.owner, now: clock.now)
        } catch {
            logger.error("could not hand back leases", metadata: ["error": "\(error)"])
        }
        logger.info("dispatcher stopped")
    }

    /// How many slots must be free before a lease: a quarter of them.
    private var leaseThreshold: Int { max(1, configuration.concurrency / 4) }

    /// Leases a batch once enough slots are free (a quarter of them), so that each lease
    /// transaction serves many emails; otherwise waits to be woken.
    private func leaseWhenWorthwhile() async -> [LeasedEmail] {
        let free = configuration.concurrency - inFlight.load(ordering: .relaxed)
        guard free >= leaseThreshold else {
            await doorbell.wait(upTo: configuration.pollInterval)
            return []
        }
        do {
            let leased = try await store.leaseDueEmails(
                limit: free, owner: configuration.owner, now: clock.now, duration: configuration.leaseDuration
            )
            if leased.isEmpty { await doorbell.wait(upTo: configuration.pollInterval) }
            return leased
        } catch {
            logger.error("could not lease due emails", metadata: ["error": "\(error)"])
            await doorbell.wait(upTo: configuration.pollInterval)
            return []
        }
    }
}
