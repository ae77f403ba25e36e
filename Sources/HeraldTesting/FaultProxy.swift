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
    public static func with<Result>(
        upstream: String, fault: String, protocol: WireProtocol, faulty: Int = 1_000_000, _ body: (Int) async throws -> Result
    ) async throws -> Result {
        try await ScriptPeer.with(
            "fault_proxy.py",
            ["--upstream", upstream, "--fault", fault, "--protocol", `protocol`.rawValue, "--faulty", "\(faulty)"], body)
    }
}
