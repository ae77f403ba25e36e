import Foundation
import HeraldTesting
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built binary meets a configuration mistake, a pipe for its output and a full disk, and
/// fails closed: it stops with the key named, shows its first key at once, and refuses emails
/// it cannot store rather than losing them.
@Suite("Fails closed", .serialized, .timeLimit(.minutes(3)))
struct FailClosedTests {
    @Test func `a typo in the configuration file stops herald serve with exit 2 and the key named`() async throws {
        try await withTemporaryDirectory { directory in
            let config = directory.appendingPathComponent("herald.yaml")
            try "provider:\n  - {name: ses, type: sandbox}\n".write(to: config, atomically: true, encoding: .utf8)
            let result = try Command.run(
                HeraldProcess.binary.path, ["serve", "--config", config.path, "--port", "0"],
                environment: HeraldProcess.environment([:]), directory: directory)
            #expect(result.status == 2)
            #expect(result.errors.contains("provider: unknown key; did you mean providers?"), "\(result.errors)")
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("herald.db").path), "nothing started")
        }
    }

    /// Where 0 is a usable value it is not tried: the command would run.
    @Test(arguments: ["0", "-1", "NaN", "inf", "1e300", "", "99999999999999999999"])
    func `no number given to a command traps it`(value: String) async throws {
        try await withTemporaryDirectory { directory in
            let environment = HeraldProcess.environment(["HERALD_STORE_SQLITE_PATH": directory.appendingPathComponent("h.db").path])
            let zeroRefused = [
                ["keys", "create", "--rate-per-second"], ["drill", "outage", "--duration"], ["drill", "outage", "--flap-seconds"],
                ["drill", "outage", "--rate"], ["drill", "outage", "--open-seconds"], ["drill", "outage", "--half-open-probes"],
                ["drill", "outage", "--slow-ms"], ["serve", "--concurrency"],
            ]
            let zeroAllowed = [
                ["drill", "outage", "--warmup"], ["drill", "outage", "--settle-seconds"], ["drill", "outage", "--retry-after"],
                ["drill", "outage", "--daily-quota"], ["serve", "--port"],
            ]
            let invocations = (zeroRefused + (value == "0" ? [] : zeroAllowed)).map { $0 + [value] }
            for arguments in invocations {
                let result = try Command.run(HeraldProcess.binary.path, arguments, environment: environment, directory: directory)
                // 64 is ArgumentParser's usage error, 2 a configuration error; a trap ends in a signal.
                #expect([64, 2].contains(result.status), "herald \(arguments.joined(separator: " ")): \(result.status) \(result.errors)")
                #expect(!result.errors.contains("Fatal error"), "\(arguments)")
            }
        }
    }

    @Test func `without configuration it warns of the sandboxes and shows its first key at once through a pipe`() async throws {
        try await withTemporaryDirectory { directory in
            let process = Process()
            process.executableURL = HeraldProcess.binary
            process.arguments = ["serve", "--port", String(try HeraldProcess.freePort())]
            process.environment = HeraldProcess.environment([:])
            process.currentDirectoryURL = directory
            let output = PipeReader()
            process.standardOutput = output.pipe
            try process.run()
            defer {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            // The process keeps running: what the test reads has left its buffers already.
            let text = try await output.waitFor(["hk_", "built-in sandboxes"], timeout: .seconds(20))
            #expect(process.isRunning)
            let warning = try #require(text.split(separator: "\n").first { $0.contains("built-in sandboxes") })
            #expect(warning.contains(#""level":"warning""#))
            #expect(text.contains("made one with the operator scope"))
        }
    }

    /// SQLite on a small tmpfs that the test fills: accepts either succeed or answer 503
    /// `not_accepted`, `/readyz` tells, and both recover once space returns, with every email
    /// answered 202 still there.
    @Test func `a full disk refuses emails with 503 and loses none of those accepted`() async throws {
        try await withTemporaryDirectory { directory in
            try await withSmallDisk(megabytes: 6, in: directory) { mount in
                let config = """
                    store: {sqlite: {path: \(mount.appendingPathComponent("herald.db").path)}}
                    dispatch: {enabled: false}
                    providers: [{name: only, type: sandbox}]
                    """
                let herald = try await HeraldProcess(directory: directory, config: config)
                #expect(try await herald.request(.GET, "/readyz").status == 200)

                let filler = try fillDisk(in: mount)

                let (accepted, index) = try await herald.sendUntilRefused(from: 0)
                #expect(try await herald.request(.GET, "/readyz").status == 503)

                try FileManager.default.removeItem(at: filler)
                let deadline = ContinuousClock.now + .seconds(10)
                while try await herald.request(.GET, "/readyz").status != 200 {
                    guard ContinuousClock.now < deadline else { throw TestFailure("/readyz did not recover after space returned") }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let after = try await herald.send(Fixtures.email(index))
                #expect(after.status == 202)
                for id in accepted {
                    #expect(try await herald.email(id)["status"] as? String == "queued", "\(id) was answered 202")
                }
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }
}

/// Idle clients: many connections that send nothing must not keep a new client from being
/// served, and at `http.max_connections` the idle timeout frees places.
@Suite("Connection limits", .serialized, .timeLimit(.minutes(2)))
struct ConnectionLimitTests {
    @Test func `a thousand idle connections do not keep a new client from being served within a second`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(
                directory: directory, config: "providers: [{name: only, type: sandbox}]\nhttp: {max_connections: 1100}")
            let idle = try (0..<1000).map { _ in try RawConnection(port: herald.port) }
            defer { idle.forEach { $0.close() } }
            let start = ContinuousClock.now
            let answer = try RawConnection(port: herald.port).get("/healthz", timeout: .seconds(1))
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(ContinuousClock.now - start < .seconds(1))
        }
    }

    @Test func `at the connection limit, idle connections are closed and a new client is served`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(
                directory: directory,
                config: "providers: [{name: only, type: sandbox}]\nhttp: {max_connections: 50, idle_timeout_seconds: 1}")
            let idle = try (0..<50).map { _ in try RawConnection(port: herald.port) }
            defer { idle.forEach { $0.close() } }
            // Waits in the backlog until the idle timeout closes the others, 1 s after they opened.
            let answer = try RawConnection(port: herald.port).get("/healthz", timeout: .seconds(5))
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(idle.allSatisfy { $0.isClosedByPeer(timeout: .seconds(1)) }, "an idle connection stayed open")
        }
    }
}

/// A TCP connection to the server on loopback through the socket API, so that a thousand of
/// them cost the test nothing but descriptors.
struct RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard descriptor >= 0, connected == 0 else { throw TestFailure("cannot connect to port \(port): errno \(errno)") }
    }

    /// Sends a GET and returns what arrives until the server closes or `timeout` passes.
    func get(_ path: String, timeout: Duration) throws -> String {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(descriptor, request, request.count, 0) == request.count else { throw TestFailure("cannot send") }
        setTimeout(timeout)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        close()
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server closed this connection: a read returns end of file within `timeout`.
    func isClosedByPeer(timeout: Duration) -> Bool {
        setTimeout(timeout)
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, 0) == 0
    }

    func close() {
        _ = Glibc.close(descriptor)
    }

    private func setTimeout(_ timeout: Duration) {
        var value = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Collects what a child process writes to a pipe, as it arrives.
final class PipeReader: Sendable {
    let pipe = Pipe()
    private let received = Received()

    private final class Received: Sendable {
        let data = Mutex(Data())
    }

    init() {
        pipe.fileHandleForReading.readabilityHandler = { [received] handle in
            let chunk = handle.availableData
            received.data.withLock { $0.append(chunk) }
        }
    }

    /// What arrived so far, once it holds every one of `markers`.
    func waitFor(_ markers: [String], timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = received.data.withLock { String(decoding: $0, as: UTF8.self) }
            if markers.allSatisfy(text.contains) { return text }
            guard ContinuousClock.now < deadline else { throw TestFailure("within \(timeout) the pipe carried only:\n\(text)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension HeraldProcess {
    /// Sends emails numbered from `first` until one is refused, as on a full disk, which must be
    /// a 503 `not_accepted`. Returns the ids answered 202 before it and the next number.
    func sendUntilRefused(from first: Int) async throws -> (accepted: [String], next: Int) {
        var accepted: [String] = []
        for index in first..<(first + 20_000) {
            let response = try await send(Fixtures.email(index))
            switch response.status {
            case 202:
                accepted.append(try #require(response.body["id"] as? String))
            case 503:
                let error = response.body["error"] as? [String: Any]
                #expect(error?["code"] as? String == "not_accepted")
                return (accepted, index + 1)
            default:
                Issue.record("answered \(response.status): \(response.body)")
            }
        }
        throw TestFailure("no email was refused on a full disk")
    }
}
