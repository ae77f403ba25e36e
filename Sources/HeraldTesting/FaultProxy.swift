import Foundation

/// `scripts/peers/fault_proxy.py`, started by a test on a free loopback port between Herald and
/// a real peer, to break connections in one chosen way. It runs until the test's body returns.
public enum FaultProxy {
    /// What the proxy does to the connections it breaks; see the script for each.
    public enum Fault: String, Sendable, CaseIterable {
        case resetOnConnect = "reset-on-connect"
        case resetInBody = "reset-in-body"
        case resetAfterBody = "reset-after-body"
        case silence
    }

    public enum WireProtocol: String, Sendable {
        case http
        case smtp
    }

    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/peers/fault_proxy.py").path
    }

    /// Runs `body` with the port of a proxy to `upstream` (`host:port`) that breaks the first
    /// `faulty` connections with `fault` (`latency:MS` adds a delay instead), and stops it after.
    public static func with<Result>(
        upstream: String, fault: String, protocol: WireProtocol, faulty: Int = 1_000_000, _ body: (Int) async throws -> Result
    ) async throws -> Result {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("fault-proxy-\(UUID().uuidString).port")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", script, "--upstream", upstream, "--fault", fault, "--protocol", `protocol`.rawValue, "--faulty", "\(faulty)",
            "--port-file", portFile.path,
        ]
        try process.run()
        defer {
            // SIGKILL: a child of the test runner may not hear SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: portFile)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? String(contentsOf: portFile, encoding: .utf8)) == nil {
            guard process.isRunning, ContinuousClock.now < deadline else { throw TestFailure("the fault proxy did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let port = Int(try String(contentsOf: portFile, encoding: .utf8)) else { throw TestFailure("the fault proxy wrote no port") }
        return try await body(port)
    }
}
