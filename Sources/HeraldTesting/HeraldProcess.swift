import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The built `herald` binary running as a separate process, with its output kept in a file.
///
/// `@unchecked Sendable`: every stored property is set once in `init`, and after launch the
/// `Process` is only asked for its state and sent signals, which tasks may do concurrently.
public final class HeraldProcess: @unchecked Sendable {
    public let port: Int
    public let output: URL
    /// An operator key without a practical rate limit, made with `herald keys create` before the
    /// server started.
    public let apiKey: String
    private let process = Process()

    /// The binary that `scripts/test` built (HERALD_BIN), or the debug build of this checkout.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["HERALD_BIN"] {
            return URL(fileURLWithPath: path)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/herald")
    }

    /// Starts `herald serve` and waits until it answers `/healthz`. Its standard output and
    /// error go to `output`, by default a new file in `directory`.
    public init(
        directory: URL, config: String, environment: [String: String] = [:], port: Int? = nil, output: URL? = nil
    ) async throws {
        self.port = try port ?? Self.freePort()
        let configFile = directory.appendingPathComponent("herald.yaml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        self.output = output ?? directory.appendingPathComponent("herald-\(UUID().uuidString).log")
        if !FileManager.default.fileExists(atPath: self.output.path) {
            _ = FileManager.default.createFile(atPath: self.output.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: self.output)
        let processEnvironment = Self.environment(environment)
        apiKey = try Self.createKey(directory: directory, configFile: configFile, environment: processEnvironment)
        process.executableURL = Self.binary
        process.arguments = ["serve", "--config", configFile.path, "--port", String(self.port)]
        process.environment = processEnvironment
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

    /// This process's environment without its `HERALD_*` settings, which would override the
    /// test's, plus `overrides`.
    public static func environment(_ overrides: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") }.merging(overrides) { $1 }
    }

    /// Runs `herald keys create --scope operator` on the server's database and returns the key.
    private static func createKey(directory: URL, configFile: URL, environment: [String: String]) throws -> String {
        // Load tests go past the default rate limit; the API tests cover the limit itself.
        let created = try Command.run(
            binary.path, ["keys", "create", "--scope", "operator", "--rate-per-second", "1000000", "--config", configFile.path],
            environment: environment, directory: directory)
        let key = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard created.status == 0, !key.isEmpty else { throw TestFailure("herald keys create failed: \(created.errors)") }
        return key
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var isRunning: Bool { process.isRunning }

    /// The process's resident memory, from `/proc`, in bytes.
    public var residentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// The nice value of each of the process's threads, from `/proc`.
    public var threadNiceValues: [Int] {
        let tasks = "/proc/\(process.processIdentifier)/task"
        return ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).compactMap { thread in
            // The fields after the command name, which may hold spaces, closed by the last ')'.
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(thread)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            // Field 19 of proc(5), the 17th after the name.
            return fields.count > 16 ? Int(fields[16]) : nil
        }
    }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("herald did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// The process's id, which its lease owner names end with.
    public var processIdentifier: Int32 { process.processIdentifier }

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
    public static func freePort() throws -> Int {
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

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One HTTP client for the whole test process; it is never shut down because tests share it
/// until the process ends.
public enum HTTP {
    public static let shared = Client()

    public struct Client: Sendable {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)

        /// A request whose answer is a JSON object (empty when it is not one).
        public func request(
            _ method: HTTPMethod, _ url: String, json: String? = nil, apiKey: String? = nil
        ) async throws -> (status: Int, body: [String: Any]) {
            let answer = try await exchange(method, url, json: json, apiKey: apiKey)
            return (answer.status, answer.body)
        }

        /// The same, with the answer's headers.
        public func exchange(
            _ method: HTTPMethod, _ url: String, json: String? = nil, apiKey: String? = nil
        ) async throws -> (status: Int, headers: HTTPHeaders, body: [String: Any]) {
            let (status, headers, body) = try await execute(method, url, json: json, apiKey: apiKey)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
            return (status, headers, object)
        }

        /// A request whose answer is text, such as `/metrics`.
        public func text(_ method: HTTPMethod, _ url: String, apiKey: String? = nil) async throws -> String {
            String(buffer: try await execute(method, url, json: nil, apiKey: apiKey).body)
        }

        private func execute(
            _ method: HTTPMethod, _ url: String, json: String?, apiKey: String?
        ) async throws -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: json))
            }
            let response = try await client.execute(request, timeout: .seconds(10))
            return (Int(response.status.code), response.headers, try await response.body.collect(upTo: 4 * 1024 * 1024))
        }
    }
}

extension HeraldProcess {
    /// A request to this server with its admin key.
    public func request(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> (status: Int, body: [String: Any]) {
        try await HTTP.shared.request(method, baseURL + path, json: json, apiKey: apiKey)
    }

    public func send(_ json: String) async throws -> (status: Int, body: [String: Any]) {
        try await request(.POST, "/v1/emails", json: json)
    }

    public func email(_ id: String) async throws -> [String: Any] {
        try await request(.GET, "/v1/emails/\(id)").body
    }

    public func providers() async throws -> [[String: Any]] {
        try await request(.GET, "/v1/providers").body["data"] as? [[String: Any]] ?? []
    }

    /// Polls until every id has `status`, or fails after `timeout`.
    public func waitUntil(_ ids: [String], are status: String, timeout: Duration = .seconds(60)) async throws {
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

public enum Fixtures {
    public static let subject = "Quarterly figures for Zanzibar"
    public static let body = "The secret body text 4815162342"

    public static func email(_ index: Int) -> String {
        #"{"from":"Ada Lovelace <ada@herald-test.example>","to":["bob\#(index)@herald-test.example"],"subject":"\#(subject)","text":"\#(body)"}"#
    }
}
