import Foundation
import HeraldCore
import Logging
import ServiceLifecycle

/// What a node on a shared store learns from the others: emails they queued wake its
/// dispatcher at once, a provider state they save (a breaker opened, a pause, a throttle)
/// reaches its router as soon as the store tells, and sends they counted against a quota
/// within `interval`, which also bounds how late a state can be if a notice is lost.
public struct SharedStoreFollower: Service {
    let store: any SharedEmailStore
    let dispatcher: Dispatcher
    let router: ProviderRouter
    let clock: any WallClock
    let interval: Duration
    let logger: Logger
    private let providerStatesChanged = Doorbell()

    public init(
        store: any SharedEmailStore, dispatcher: Dispatcher, router: ProviderRouter, clock: any WallClock, interval: Duration,
        logger: Logger
    ) {
        self.store = store
        self.dispatcher = dispatcher
        self.router = router
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    /// Stops at once on graceful shutdown: nothing is left to finish.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await store.watchForChanges { change in
                        switch change {
                        case .newEmails: dispatcher.wake()
                        case .providerStates: providerStatesChanged.ring()
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        await follow()
                        await providerStatesChanged.wait(upTo: interval)
                    }
                }
            }
        }
    }

    /// Reads the shared provider states and send counts once; a failed read leaves the router
    /// as it was until the next.
    func follow() async {
        do {
            let now = clock.now
            router.adopt(try await store.providerStates(), sends: try await store.sendCounts(at: now), now: now)
        } catch {
            logger.warning("could not read the shared provider states", metadata: ["error": "\(error)"])
        }
    }
}
