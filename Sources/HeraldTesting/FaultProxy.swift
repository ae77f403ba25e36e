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

    /// Runs `body` with the port of a proxy to `upstream` (`host:port`) that breaks the first
    /// `faulty` connections with `fault` (`latency:MS` adds a delay instead), and stops it after.
    /// Once `healFile` exists, no connection is broken any more.
    public static func with<Result>(
        upstream: String, fault: String, protocol: WireProtocol, faulty: Int = 1_000_000, healFile: URL? = nil,
        _ body: (Int) async throws -> Result
    ) async throws -> Result {
        var arguments = ["--upstream", upstream, "--fault", fault, "--protocol", `protocol`.rawValue, "--faulty", "\(faulty)"]
        if let healFile { arguments += ["--heal-file", healFile.path] }
        return try await ScriptPeer.with("fault_proxy.py", arguments, body)
    }
}
