import Foundation
import HeraldCore
import Logging
import PostgresNIO

extension PostgresEmailStore: SharedEmailStore {
    /// The channel on which a transaction that queues emails tells every node, once it commits.
    static let newEmailsChannel = "herald_new_emails"

    /// Sent inside the queuing transaction: PostgreSQL delivers it only if that commits.
    static func announceNewEmails(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.execute("SELECT pg_notify(\(newEmailsChannel), '')", logger: logger)
    }

    /// The channel on which a saved provider state tells every node; the state itself is read
    /// from the table, so a notification lost to a reconnect costs at most the follower's poll.
    static let providerStatesChannel = "herald_provider_states"

    /// Holds one connection of the pool to listen on both channels; when it is lost, waits a
    /// second and listens again on another.
    public func watchForChanges(_ changed: @escaping @Sendable (SharedStoreChange) -> Void) async {
        while !Task.isCancelled {
            do {
                // Not bounded by the store's timeout, as statements are: a listener waits for as long as it listens.
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.newEmailsChannel) { newEmails in
                        try await connection.listen(on: Self.providerStatesChannel) { providerStates in
                            // What changed while nobody listened: look now.
                            for change in SharedStoreChange.allCases { changed(change) }
                            try await withThrowingDiscardingTaskGroup { group in
                                group.addTask { for try await _ in newEmails { changed(.newEmails) } }
                                group.addTask { for try await _ in providerStates { changed(.providerStates) } }
                            }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning(
                    "stopped listening for changes by other nodes; listening again",
                    metadata: ["error": "\(BoundedConnectionCall<Void>.describe(error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

extension PostgresEmailStore {
    /// One statement refills the provider's bucket for the time since it was last touched and
    /// takes a token if there is a whole one; the row lock makes nodes take turns.
    public func takeSendToken(provider: String, ratePerSecond: Double, burst: Double, now: Date) async throws -> Date? {
        let at = now.milliseconds
        let taken = try await query(
            """
            INSERT INTO provider_tokens AS bucket (provider, tokens, updated_at) VALUES (\(provider), \(burst - 1), \(at))
            ON CONFLICT (provider) DO UPDATE
                SET tokens = LEAST(\(burst), bucket.tokens + GREATEST(0, \(at) - bucket.updated_at) * \(ratePerSecond) / 1000.0) - 1,
                    updated_at = GREATEST(\(at), bucket.updated_at)
                WHERE LEAST(\(burst), bucket.tokens + GREATEST(0, \(at) - bucket.updated_at) * \(ratePerSecond) / 1000.0) >= 1
            RETURNING tokens
            """)
        if !taken.isEmpty { return nil }
        let rows = try await query(
            "SELECT tokens, updated_at FROM provider_tokens WHERE provider = \(provider)")
        for (tokens, updatedAt) in try rows.decode((Double, Int64).self) {
            let available = min(burst, tokens + Double(max(0, at - updatedAt)) * ratePerSecond / 1000)
            return now.addingTimeInterval(max(0.001, (1 - available) / ratePerSecond))
        }
        return nil
    }
}
