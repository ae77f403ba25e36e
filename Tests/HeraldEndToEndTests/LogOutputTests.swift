import Foundation
import HeraldTesting
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Standard output that cannot take Herald's log lines, a full disk or a pipe whose reader is
/// gone: the lines are dropped and counted, and every email is still accepted and sent.
@Suite("Log output that cannot be written", .serialized, .timeLimit(.minutes(3)))
struct LogOutputTests {
    static let config = "providers: [{name: only, type: sandbox}]\nlog: {level: info}\n"

    /// Sends `count` emails, waits for all to be sent, and returns the dropped-lines counter.
    static func sendAndCountDrops(_ herald: HeraldProcess, count: Int) async throws -> Double {
        var ids: [String] = []
        for index in 0..<count {
            let response = try await herald.send(Fixtures.email(index))
            #expect(response.status == 202)
            ids.append(try #require(response.body["id"] as? String))
        }
        try await herald.waitUntil(ids, are: "sent")
        #expect(herald.isRunning)
        let metrics = try await HTTP.shared.text(.GET, "\(herald.baseURL)/metrics")
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("herald_log_lines_dropped_total ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    }

    @Test func `a full disk behind standard output drops log lines and nothing else`() async throws {
        try await withTemporaryDirectory { directory in
            try await withSmallDisk(megabytes: 1, in: directory) { mount in
                let herald = try await HeraldProcess(
                    directory: directory, config: Self.config, output: mount.appendingPathComponent("herald.log"))
                try fillDisk(in: mount)
                let dropped = try await Self.sendAndCountDrops(herald, count: 300)
                #expect(dropped > 0, "the full disk refused the lines of the sent emails")
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `a pipe whose reader is gone drops log lines and nothing else`() async throws {
        try await withTemporaryDirectory { directory in
            let fifo = directory.appendingPathComponent("stdout.fifo")
            #expect(mkfifo(fifo.path, 0o600) == 0)
            let reader = open(fifo.path, O_RDONLY | O_NONBLOCK)
            #expect(reader >= 0)
            let herald = try await HeraldProcess(directory: directory, config: Self.config, output: fifo)
            close(reader)
            let dropped = try await Self.sendAndCountDrops(herald, count: 300)
            #expect(dropped >= 300, "each sent email logs a line that the closed pipe refused")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }
}
