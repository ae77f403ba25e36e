import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `herald` binary running as a separate process, with its output kept in a file.
///
/// `@unchecked Sendable`: every stored property is set once in `init`, and after launch the
/// `Process` is only asked for its state and sent signals, which tasks may do concurrently.
final class HeraldProcess: @unchecked Sendable {
    let port: Int
    let output: URL
    private let process = Process()

    /// The binary that `scripts/test` built (HERALD_BIN), or the debug build of this checkout.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["HERALD_BIN"] {
            return URL(fileURLWithPath: path)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/herald")
    }

    /// Starts `herald serve` and waits until it answers `/healthz`.
    init(directory: URL, config: String, environment: [String: String] = [:], port: Int? = nil) async throws {
        self.port = try port ?? Self.freePort()
        let configFile = directory.appendingPathComponent("herald.yaml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        output = directory.appendingPathComponent("herald-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.executableURL = Self.binary
        process.arguments = ["serve", "--config", configFile.path, "--port", String(self.port)]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") }
            .merging(environment) { $1 }
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try await waitUntilHealthy()
    }

    deinit {
        if process.isRunning {
            process.interrupt()
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end and returns its exit status.
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("herald did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    private func waitUntilHealthy() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestFailure("herald exited at start-up:\n\(log)") }
            if let response = try? await HTTP.shared.request(.GET, "\(baseURL)/healthz"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("herald did not become healthy:\n\(log)")
    }

    /// A port that was free a moment ago: bind to port 0 and read what the kernel chose.
    static func freePort() throws -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(socketDescriptor, socketAddress, length) == 0 && getsockname(socketDescriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw TestFailure("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP client for the whole test process; it is never shut down because tests share it
/// until the process ends.
enum HTTP {
    static let shared = Client()

    struct Client: Sendable {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)

        func request(_ method: HTTPMethod, _ url: String, json: String? = nil) async throws -> (status: Int, body: [String: Any]) {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: json))
            }
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
            return (Int(response.status.code), object)
        }
    }
}

extension HeraldProcess {
    func send(_ json: String) async throws -> (status: Int, body: [String: Any]) {
        try await HTTP.shared.request(.POST, "\(baseURL)/v1/emails", json: json)
    }

    func email(_ id: String) async throws -> [String: Any] {
        try await HTTP.shared.request(.GET, "\(baseURL)/v1/emails/\(id)").body
    }

    func providers() async throws -> [[String: Any]] {
        try await HTTP.shared.request(.GET, "\(baseURL)/v1/providers").body["data"] as? [[String: Any]] ?? []
    }

    /// Polls until every id has `status`, or fails after `timeout`.
    func waitUntil(_ ids: [String], are status: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var pending = ids
        while !pending.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(pending.count) emails did not reach \(status), e.g. \(pending[0])")
            }
            var still: [String] = []
            for id in pending where try await email(id)["status"] as? String != status { still.append(id) }
            pending = still
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
    }
}

enum Fixtures {
    static let subject = "Quarterly figures for Zanzibar"
    static let body = "The secret body text 4815162342"

    static func email(_ index: Int) -> String {
        #"{"from":"Ada Lovelace <ada@herald-test.example>","to":["bob\#(index)@herald-test.example"],"subject":"\#(subject)","text":"\#(body)"}"#
    }
}
