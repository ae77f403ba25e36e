import HeraldCore
import Logging
import ServiceLifecycle

/// Deletes idempotency keys once their 24 hours are over, so that the table holds about a
/// day of requests however long Herald runs. A repeat that arrives later is a new request
/// whether its key is still stored or not; the sweep only reclaims the space.
struct IdempotencyKeySweeper: Service {
    let store: any IdempotencyStore
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    /// Stops at once on graceful shutdown: a sweep left undone is done at the next start.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func sweep() async {
        do {
            let removed = try await store.removeExpiredIdempotencyKeys(now: clock.now)
            if removed > 0 { logger.debug("removed expired idempotency keys", metadata: ["count": "\(removed)"]) }
        } catch {
            logger.warning("could not remove expired idempotency keys", metadata: ["error": "\(error)"])
        }
    }
}
