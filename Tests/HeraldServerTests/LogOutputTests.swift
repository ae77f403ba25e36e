import Foundation
import Testing

@testable import HeraldServer

#if canImport(Glibc)
import Glibc
#endif

/// LogOutput on pipes the tests control: every line is written while a reader reads, and
/// lines a closed or stalled reader cannot take are dropped and counted without blocking the
/// caller or ending the process.
@Suite("Log output", .timeLimit(.minutes(1)))
struct LogOutputTests {
    /// A pipe whose read end a test may close early; each end is closed once, since a
    /// descriptor number closed twice may by then belong to another test running alongside.
    final class TestPipe {
        let write: Int32
        private(set) var read: Int32

        init() throws {
            var descriptors: [Int32] = [-1, -1]
            guard pipe(&descriptors) == 0 else { throw CancellationError() }
            (read, write) = (descriptors[0], descriptors[1])
        }

        func closeReader() {
            if read >= 0 { close(read) }
            read = -1
        }

        deinit {
            closeReader()
            close(write)
        }
    }

    /// `F_GETPIPE_SZ`, which Glibc's module leaves out (it is a GNU extension).
    static let getPipeSize: Int32 = 1032

    func withPipe<T>(_ body: (TestPipe) async throws -> T) async throws -> T {
        // As `herald serve` does: a write to a closed pipe fails instead of ending the process.
        signal(SIGPIPE, SIG_IGN)
        let pipe = try TestPipe()
        defer { withExtendedLifetime(pipe) {} }
        return try await body(pipe)
    }

    @Test func `writes every line, in order, while the reader keeps up`() async throws {
        try await withPipe { pipe in
            let output = LogOutput(descriptor: pipe.write)
            for index in 0..<1000 { output.write(Array("line \(index)\n".utf8)) }
            await output.flush(timeout: .seconds(10))
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let flags = fcntl(pipe.read, F_GETFL)
            _ = fcntl(pipe.read, F_SETFL, flags | O_NONBLOCK)
            while case let count = read(pipe.read, &buffer, buffer.count), count > 0 { received += buffer[0..<count] }
            let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
            #expect(lines == (0..<1000).map { "line \($0)"[...] })
            #expect(output.droppedLines == 0)
        }
    }

    @Test func `drops and counts the lines a closed pipe refuses`() async throws {
        try await withPipe { pipe in
            pipe.closeReader()
            let output = LogOutput(descriptor: pipe.write)
            for _ in 0..<100 { output.write(Array("refused\n".utf8)) }
            await output.flush(timeout: .seconds(10))
            #expect(output.droppedLines == 100)
        }
    }

    /// Nobody reads: the pipe fills, the writer thread waits in write(2) with one batch, and
    /// the queue fills behind it; every further line is dropped at once rather than blocking
    /// its caller (a blocking write would hang here until the time limit). Before the pipe
    /// filled, the writer may have emptied a batch into it: the pipe's lines are taken too.
    @Test func `never blocks its callers when the reader stalls`() async throws {
        try await withPipe { pipe in
            let output = LogOutput(descriptor: pipe.write)
            let line = Array(String(repeating: "x", count: 99).appending("\n").utf8)
            let count = 3 * LogOutput.capacity
            for _ in 0..<count { output.write(line) }
            // At most the pipe's buffer, one batch in write(2) and one full queue were taken.
            let pipeLines = Int(fcntl(pipe.write, Self.getPipeSize)) / line.count + 1
            #expect(pipeLines > 1)
            #expect(output.droppedLines >= count - 2 * LogOutput.capacity - pipeLines)
            // Let the writer go: with the reader gone its write fails.
            pipe.closeReader()
            await output.flush(timeout: .seconds(10))
        }
    }
}
