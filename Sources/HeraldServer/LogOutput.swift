import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: a descriptor written by a thread of its own, so that an output that is
/// slow, full or closed never blocks or stops the process.
///
/// Lines wait in a bounded queue. A line that finds the queue full, or that the descriptor
/// refuses (a full disk, a closed pipe), is dropped and counted in ``droppedLines``; nothing
/// else happens, since a log line is never worth an email. Writing to a closed pipe needs
/// SIGPIPE ignored, which `herald serve` does.
public final class LogOutput: Sendable {
    public static let standardOutput = LogOutput(descriptor: STDOUT_FILENO)

    /// Lines that may wait at once: about a second of a busy dispatcher's lines.
    static let capacity = 16_384

    private struct Queue {
        var lines: [[UInt8]] = []
        var writerIsWaiting = true
    }

    private let descriptor: Int32
    private let queue = Mutex(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let dropped = Atomic<Int>(0)
    /// Lines queued, and lines taken from the queue and written or refused, so far.
    private let queued = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)

    /// Starts the thread that writes to `descriptor`; it lives as long as the process.
    init(descriptor: Int32) {
        self.descriptor = descriptor
        let thread = Thread { [self] in writeForever() }
        thread.name = "herald-log-output"
        thread.start()
    }

    /// Lines dropped so far: the queue was full or the descriptor refused them.
    public var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues `line` (which ends in a line feed) and returns at once.
    public func write(_ line: [UInt8]) {
        let wakesWriter = queue.withLock { queue -> Bool? in
            guard queue.lines.count < Self.capacity else { return nil }
            queue.lines.append(line)
            queued.add(1, ordering: .relaxed)
            defer { queue.writerIsWaiting = false }
            return queue.writerIsWaiting
        }
        switch wakesWriter {
        case nil: dropped.add(1, ordering: .relaxed)
        case true?: wakeUp.signal()
        case false?: break
        }
    }

    /// Waits until every line queued so far was written or dropped, or `timeout` passed: at
    /// the end of a process, so that its last lines are not lost with it.
    public func flush(timeout: Duration) async {
        let target = queued.load(ordering: .relaxed)
        let deadline = ContinuousClock.now + timeout
        while finished.load(ordering: .relaxed) < target, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private func writeForever() {
        while true {
            wakeUp.wait()
            while true {
                let lines = queue.withLock { queue -> [[UInt8]] in
                    let lines = queue.lines
                    queue.lines.removeAll(keepingCapacity: true)
                    if lines.isEmpty { queue.writerIsWaiting = true }
                    return lines
                }
                guard !lines.isEmpty else { break }
                if !Self.writeFully(lines.joined(), to: descriptor) {
                    dropped.add(lines.count, ordering: .relaxed)
                }
                finished.add(lines.count, ordering: .relaxed)
            }
        }
    }

    /// Writes all of `bytes`, going on after partial writes and interruptions; false when the
    /// descriptor refuses them.
    static func writeFully(_ bytes: some Collection<UInt8>, to descriptor: Int32) -> Bool {
        Array(bytes).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count > 0 {
                    offset += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }
}
