import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands the memory a busy spell freed back to the system once the process falls quiet.
///
/// glibc's allocator keeps freed memory in its arenas for the next allocation; after a burst
/// of accepts or deliveries a node idles holding several megabytes it no longer uses (7 MB on
/// a PostgreSQL node after delivering at 512 in flight). `malloc_trim` returns it, but walks
/// and locks every arena: it runs only when the process has used almost no CPU for a whole
/// interval, once per quiet spell, never under load.
struct IdleMemoryTrimmer: Service {
    /// How often the process's CPU time is read.
    let interval: Duration
    /// CPU time per wall time below which an interval counts as quiet: 2 % of one core.
    let quietShare: Double

    init(interval: Duration = .seconds(5), quietShare: Double = 0.02) {
        self.interval = interval
        self.quietShare = quietShare
    }

    /// Decides from each interval's CPU time whether to trim now; the service acts.
    struct Policy {
        let quietShare: Double
        /// Whether work has been done since the last trim (start-up is work).
        private(set) var busySinceTrim = true

        init(quietShare: Double) {
            self.quietShare = quietShare
        }

        /// Whether to trim after an interval of `wall` in which the process used `cpu`: the
        /// first quiet interval after a busy one.
        mutating func trimAfter(cpu: Duration, wall: Duration) -> Bool {
            let quiet = cpu <= wall * quietShare
            defer { busySinceTrim = !quiet }
            return quiet && busySinceTrim
        }
    }

    /// Runs until graceful shutdown, also where there is nothing to trim: a service that
    /// returned early would end the whole group.
    func run() async throws {
        await cancelWhenGracefulShutdown { [interval, quietShare] in
            var policy = Policy(quietShare: quietShare)
            var (cpuBefore, wallBefore) = (Self.processCPUTime(), ContinuousClock.now)
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let (cpu, wall) = (Self.processCPUTime(), ContinuousClock.now)
                if policy.trimAfter(cpu: cpu - cpuBefore, wall: wall - wallBefore) { Self.trimHeap() }
                (cpuBefore, wallBefore) = (cpu, wall)
            }
        }
    }

    /// CPU time the whole process has used, every thread's.
    static func processCPUTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    private static func trimHeap() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }

    #if canImport(Glibc)
    /// glibc's `malloc_trim`, looked up at run time: `malloc.h` is not in Swift's Glibc module,
    /// and a C library without it (musl) leaves nothing to trim.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim").map {
        unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self)
    }
    #endif
}
