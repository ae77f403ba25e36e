import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// One event loop on a thread that the kernel runs after the process's other threads when
/// CPUs are scarce, for work that may wait: webhook deliveries. While accepts and email
/// deliveries need every CPU, webhooks queue in the outbox and go out once CPU is spare;
/// otherwise they run at full speed. Nice values are per thread on Linux.
///
/// A process-wide singleton, like NIO's own loops: created on first use, never shut down.
enum BackgroundEventLoop {
    /// How much lower than the rest of the process the thread is scheduled. At nice 19 the
    /// kernel weighs it at 15 against 1,024 for a thread at 0; at 10 (weight 110), a benchmark
    /// node accepted about a tenth fewer emails than at 19 while delivering webhooks (one run each).
    static let niceness: Int32 = 19

    static let shared: any EventLoop = {
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
        // Best effort: a thread left at the process's priority still delivers every webhook.
        loop.execute { lowerCurrentThreadPriority(by: niceness) }
        return loop
    }()

    private static func lowerCurrentThreadPriority(by niceness: Int32) {
        #if os(Linux)
        // Linux reads "the calling process" (0) as the calling thread, whose nice value is its own.
        let thread: id_t = 0
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread)
        guard errno == 0 else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, min(19, current + niceness))
        #endif
    }
}
