import HeraldCore
import Logging
import ServiceLifecycle
import Synchronization

/// Queues failed emails again as the redrive policy says: it looks at the providers every
/// ``lookInterval``, asks its ``RedriveSchedule`` what to do, and when told to, redrives in
/// the store and wakes the dispatcher.
public final class Redriver: Service, Sendable {
    /// How soon a provider's recovery is noticed.
    public static let lookInterval: Duration = .seconds(1)

    private let store: any EmailStore
    private let router: ProviderRouter
    private let clock: any WallClock
    private let wakeDispatcher: @Sendable () -> Void
    private let logger: Logger
    private let schedule: Mutex<RedriveSchedule>

    public init(
        store: any EmailStore, router: ProviderRouter, policy: RedrivePolicy, clock: any WallClock,
        wakeDispatcher: @escaping @Sendable () -> Void, logger: Logger
    ) {
        self.store = store
        self.router = router
        self.clock = clock
        self.wakeDispatcher = wakeDispatcher
        self.logger = logger
        self.schedule = Mutex(RedriveSchedule(policy: policy, now: clock.now))
    }

    /// Stops at once on graceful shutdown: a redrive left undone is done after the next start,
    /// on the interval.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.look()
                try? await Task.sleep(for: Self.lookInterval)
            }
        }
    }

    /// One look at the providers and the clock, and the redrive it calls for; returns how many
    /// emails were queued again. A redrive the store could not carry out is logged, and the
    /// interval's next check finds its emails again.
    @discardableResult
    public func look() async -> Int {
        let now = clock.now
        let conditions = router.conditions(now: now)
        let action = schedule.withLock { $0.next(now: now, conditions: conditions) }
        guard case .redrive(let selection) = action else { return 0 }
        do {
            let count = try await store.redrive(selection, now: now)
            if count > 0 {
                logger.notice("queued failed emails again", metadata: ["count": "\(count)", "reason": "\(selection.reason)"])
                wakeDispatcher()
            }
            return count
        } catch {
            logger.warning("could not queue failed emails again", metadata: ["error": "\(error)"])
            return 0
        }
    }
}
