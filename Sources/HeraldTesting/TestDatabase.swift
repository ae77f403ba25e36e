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

    private func psql(_ sql: String, in database: String) throws -> String {
        let result = try Command.run(
            "psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", database, "-c", sql])
        guard result.status == 0 else { throw TestFailure("psql failed: \(result.errors)") }
        return result.output
    }
}
