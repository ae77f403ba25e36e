import Foundation

/// A PostgreSQL server of its own for one fault test, started by `scripts/peers/postgres-cluster`,
/// which the test may crash, freeze and start again without touching the server the other tests
/// share. It needs root, as `scripts/test` has, to run the server as the postgres user.
public struct TestCluster: Sendable {
    public let directory: URL
    public let port: Int

    /// The URL for `store.postgres.url`, on the cluster's own `postgres` database.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/peers/postgres-cluster").path
    }

    /// Starts a new cluster in `directory`, runs `body` with it and stops it afterwards, whether
    /// `body` fails or not.
    public static func with<Result>(in directory: URL, _ body: (TestCluster) async throws -> Result) async throws -> Result {
        let directory = directory.appendingPathComponent("postgres-\(UUID().uuidString.prefix(8))")
        let started = try Command.run(script, ["start", directory.path])
        guard started.status == 0, let port = Int(started.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("postgres-cluster start failed: \(started.errors)")
        }
        let cluster = TestCluster(directory: directory, port: port)
        defer { _ = try? Command.run(script, ["stop", directory.path]) }
        return try await body(cluster)
    }

    /// Immediate shutdown: every backend is killed mid-statement, as in a crash.
    public func crash() throws { try run("crash") }

    /// Starts the server again on the same port, after ``crash()``.
    public func start() throws { try run("start") }

    /// Stops the server's every process with SIGSTOP: it neither answers nor closes a connection.
    public func freeze() throws { try run("freeze") }

    public func thaw() throws { try run("thaw") }

    /// Runs one SQL statement and returns its rows, one line each, columns separated by `|`.
    public func query(_ sql: String) throws -> [String] {
        let result = try Command.run(
            "psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-c", sql])
        guard result.status == 0 else { throw TestFailure("psql failed: \(result.errors)") }
        return result.output.split(separator: "\n").map(String.init)
    }

    private func run(_ command: String) throws {
        let result = try Command.run(Self.script, [command, directory.path])
        guard result.status == 0 else { throw TestFailure("postgres-cluster \(command) failed: \(result.errors)") }
    }
}
