#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock on a file, held for the life of the process, so that two Herald
/// processes never share one SQLite queue: each would take the other's leases for crashed ones.
final class FileLock: Sendable {
    private let descriptor: Int32

    init?(path: String) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    /// The lock of the SQLite store at `databasePath`, which every process that serves it holds.
    convenience init?(storeAt databasePath: String) {
        self.init(path: databasePath + ".lock")
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
