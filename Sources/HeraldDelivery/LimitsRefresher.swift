import Foundation
import HeraldCore
import Logging
import ServiceLifecycle

/// Reads, now and then, the limits providers report about themselves (Amazon SES's 24-hour
/// quota and send rate) and hands them to the router, which then keeps traffic within them.
public struct LimitsRefresher: Service {
    let router: ProviderRouter
    let interval: Duration
    let logger: Logger

    public init(router: ProviderRouter, interval: Duration, logger: Logger) {
        self.router = router
        self.interval = interval
        self.logger = logger
    }

    /// Stops at once on graceful shutdown: there is nothing to finish.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await refresh()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Asks every provider once; one that fails to answer keeps the limits it reported before.
    func refresh() async {
        for route in router.routes {
            do {
                if let limits = try await route.provider.reportedLimits() { router.update(limits, provider: route.name) }
            } catch {
                logger.warning("could not read a provider's limits", metadata: ["provider": "\(route.name)", "error": "\(error)"])
            }
        }
    }
}
