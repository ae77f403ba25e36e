import Foundation

/// A PostgreSQL database of its own for one test, on the server that `scripts/test` starts,
/// reached with `psql` so that tests of the binary need no client library.
public struct TestDatabase: Sendable {
    public let name: String
    let host: String
    let port: String
    let user: String

    /// The URL for `store.postgres.url`.
    public var url: String { "postgres://\(user)@\(host):\(port)/\(name)?sslmode=disable" }

    /// Creates a new, empty database, runs `body` with it and drops it afterwards.
    public static func with<Result>(_ body: (TestDatabase) async throws -> Result) async throws -> Result {
        let database = TestDatabase(
            name: "herald_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())",
            host: try Peers.require("HERALD_TEST_POSTGRES_HOST"), port: try Peers.require("HERALD_TEST_POSTGRES_PORT"),
            user: try Peers.require("HERALD_TEST_POSTGRES_USER"))
        _ = try database.psql("CREATE DATABASE \(database.name)", in: try Peers.require("HERALD_TEST_POSTGRES_DATABASE"))
        defer { _ = try? database.psql("DROP DATABASE \(database.name) WITH (FORCE)", in: "postgres") }
        return try await body(database)
    }

    /// Runs one SQL statement and returns its rows, one line each, columns separated by `|`.
    public func query(_ sql: String) throws -> [String] {
        try psql(sql, in: name).split(separator: "\n").map(String.init)
    }

    /// Runs `statements` in a transaction that stays open, holding whatever locks they took,
    /// while `body` runs; then ends it.
    public func holdingTransaction<Result>(_ statements: String, _ body: () async throws -> Result) async throws -> Result {
        let marker = "herald_test_holder_\(UUID().uuidString.prefix(8))"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", name,
            "-c", "BEGIN; \(statements); SELECT pg_sleep(600) AS \(marker);",
        ]
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        defer {
            _ = try? query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%\(marker)%' AND pid <> pg_backend_pid()")
            holder.terminate()
            holder.waitUntilExit()
        }
        try await waitUntil(timeout: .seconds(10)) {
            try query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%AS \(marker)%' AND wait_event = 'PgSleep'") == ["1"]
        }
        return try await body()
    }

    private func psql(_ sql: String, in database: String) throws -> String {
        let result = try Command.run(
            "psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", database, "-c", sql])
        guard result.status == 0 else { throw TestFailure("psql failed: \(result.errors)") }
        return result.output
    }
}
