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

    /// Holds one connection of the pool to listen on; when it is lost, waits a second and
    /// listens again on another.
    public func watchForNewEmails(_ wake: @escaping @Sendable () -> Void) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.newEmailsChannel) { notifications in
                        // Emails queued while nobody listened are due already: look now.
                        wake()
                        for try await _ in notifications { wake() }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning("stopped listening for new emails; listening again", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
