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
    /// The emails whose rounds run now.
    private let inFlight = Mutex<Set<EmailID>>([])
    private let isStopping = Atomic<Bool>(false)
    /// When the store last answered a lease, on the monotonic clock; the start counts as one.
    private let lastLease: Mutex<ContinuousClock.Instant>
    /// How long to wait before the next lease after the store failed; zero while it answers.
    private let storeBackoff = Mutex(StoreBackoff())
    /// When to look for leases of this node that no round holds.
    private let unheldLeaseCheck = Mutex(UnheldLeaseCheck(now: .now))

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
        self.lastLease = Mutex(.now)
    }

    /// How long ago the store last answered a lease. A dispatcher whose leases fail or hang
    /// while due emails wait makes no progress: `/readyz` says so once this grows too long.
    public var timeSinceLastLease: Duration {
        .now - lastLease.withLock { $0 }
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
                        inFlight.withLock { _ = $0.insert(email.id) }
                        group.addTask(executorPreference: configuration.taskExecutor) {
                            await self.deliver(email)
                            let running = self.inFlight.withLock { inFlight in
                                inFlight.remove(email.id)
                                return inFlight.count
                            }
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
            try await store.releaseLeases(owner: configuration.owner, except: [], now: clock.now)
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
        let free = configuration.concurrency - inFlight.withLock(\.count)
        guard free >= leaseThreshold else {
            await doorbell.wait(upTo: configuration.pollInterval)
            return []
        }
        do {
            try await handBackUnheldLeases()
            let now = clock.now
            let leased = try await store.leaseDueEmails(
                limit: free, owner: configuration.owner, now: now, duration: configuration.leaseDuration
            )
            lastLease.withLock { $0 = .now }
            metrics.leased(at: now)
            if storeBackoff.withLock({ $0.recovered() }) { logger.notice("the store answers leases again") }
            if leased.isEmpty { await doorbell.wait(upTo: configuration.pollInterval) }
            return leased
        } catch {
            // However the store failed (a timeout, a lost connection, a server restarting),
            // the loop goes on: it tries again after a backoff that grows while failures
            // last, so that a store coming back is not met by every node at once.
            let (delay, isFirst) = storeBackoff.withLock { $0.failed() }
            lookForUnheldLeases()
            if isFirst {
                logger.error("could not lease due emails; trying again until the store answers", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: delay)
            return []
        }
    }

    /// After the store failed, in the lease loop or in a round: for a while, each lease first
    /// hands back this node's leases that no round holds.
    func lookForUnheldLeases() {
        unheldLeaseCheck.withLock { $0.storeFailed(at: .now) }
    }

    /// When a look is due, makes this node's leases that no round holds due again.
    private func handBackUnheldLeases() async throws {
        guard unheldLeaseCheck.withLock({ $0.isDue(at: .now) }) else { return }
        let held = inFlight.withLock { $0 }
        try await store.releaseLeases(owner: configuration.owner, except: held, now: clock.now)
        unheldLeaseCheck.withLock { $0.looked(at: .now) }
    }
}

/// When the dispatcher looks for its own leases that no round holds. A lease call that failed
/// may have been committed all the same, its answer lost with the connection, or commit late,
/// when a frozen server wakes; without a look its emails would wait for the lease to run out.
///
/// Right after a store failure it looks before every lease; otherwise now and then, which
/// costs one small statement and catches a late commit however late it comes.
struct UnheldLeaseCheck {
    /// How long after the store's last failure to look before every lease.
    static let afterFailure: Duration = .seconds(10)
    /// How often to look otherwise.
    static let interval: Duration = .seconds(5)

    private var lookUntil: ContinuousClock.Instant?
    private var lastLook: ContinuousClock.Instant

    init(now: ContinuousClock.Instant) {
        self.lastLook = now
    }

    mutating func storeFailed(at now: ContinuousClock.Instant) {
        lookUntil = now + Self.afterFailure
    }

    func isDue(at now: ContinuousClock.Instant) -> Bool {
        if let lookUntil, now <= lookUntil { return true }
        return now - lastLook >= Self.interval
    }

    mutating func looked(at now: ContinuousClock.Instant) {
        lastLook = now
        if let until = lookUntil, now > until { lookUntil = nil }
    }
}

/// The wait between tries of a store that fails: from 50 ms, doubling to at most 2 s, each
/// wait drawn at random below its bound (full jitter).
struct StoreBackoff {
    static let first: Duration = .milliseconds(50)
    static let cap: Duration = .seconds(2)

    private var failures = 0

    /// After a failure: how long to wait, and whether it is the first of a run.
    mutating func failed() -> (delay: Duration, isFirst: Bool) {
        failures += 1
        let bound = min(Self.cap, Self.first * (1 << min(failures - 1, 16)))
        return (.nanoseconds(Int64.random(in: 0...bound.nanoseconds)), failures == 1)
    }

    /// After a success: whether failures came before it.
    mutating func recovered() -> Bool {
        defer { failures = 0 }
        return failures > 0
    }
}
