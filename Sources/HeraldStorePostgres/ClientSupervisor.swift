import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Runs the store's `PostgresClient`, and puts a new one in its place when the old one's pool
/// lags behind a server that answers again.
///
/// A pool that cannot connect waits longer after each failed attempt, up to a minute
/// (postgres-nio's backoff, which has no setting). After an outage of a few seconds the server
/// may be back while the pool still waits, and every call fails meanwhile. So once calls fail,
/// the supervisor tries a connection of its own, outside the pool, every half second; when one
/// succeeds while the pool still has not, a new client takes over. The old one is shut down a
/// little after its calls' deadline has passed.
final class ClientSupervisor: Sendable {
    private struct State {
        var client: PostgresClient
        /// When a call last failed and no call has succeeded since.
        var failingSince: ContinuousClock.Instant?
        var isProbing = false
    }

    let configuration: PostgresClient.Configuration
    let probeConfiguration: PostgresConnection.Configuration
    /// How long a call may take; the old client is shut down after twice this.
    let callTimeout: Duration
    let logger: Logger
    private let state: Mutex<State>
    private let newClients: AsyncStream<PostgresClient>
    private let newClientsContinuation: AsyncStream<PostgresClient>.Continuation

    init(
        configuration: PostgresClient.Configuration, probeConfiguration: PostgresConnection.Configuration, callTimeout: Duration,
        logger: Logger
    ) {
        self.configuration = configuration
        self.probeConfiguration = probeConfiguration
        self.callTimeout = callTimeout
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.state = Mutex(State(client: client))
        (newClients, newClientsContinuation) = AsyncStream.makeStream()
        newClientsContinuation.yield(client)
    }

    /// The client calls use now.
    var client: PostgresClient { state.withLock { $0.client } }

    /// Runs every client until it is retired, until cancelled.
    func run() async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for await client in newClients {
                    group.addTask {
                        await withDiscardingTaskGroup { running in
                            running.addTask { await client.run() }
                            await self.waitUntilRetired(client)
                            running.cancelAll()
                        }
                    }
                }
            }
        } onCancel: {
            newClientsContinuation.finish()
        }
    }

    /// Returns once another client has taken over from `client` and the calls `client` still
    /// serves have passed their deadline, or on cancellation.
    private func waitUntilRetired(_ client: PostgresClient) async {
        do {
            while self.client === client { try await Task.sleep(for: .milliseconds(500)) }
            try await Task.sleep(for: callTimeout * 2)
        } catch {}
    }

    /// A call through the pool succeeded: the pool is fine.
    func callSucceeded() {
        state.withLock { $0.failingSince = nil }
    }

    /// A call through the pool failed: start probing the server, unless a probe runs already.
    func callFailed() {
        let startProbe = state.withLock { state -> Bool in
            if state.failingSince == nil { state.failingSince = .now }
            guard !state.isProbing else { return false }
            state.isProbing = true
            return true
        }
        if startProbe { Task { await probe() } }
    }

    /// Connects outside the pool every half second while calls fail; replaces the client when
    /// the server answers and the pool still fails.
    private func probe() async {
        defer { state.withLock { $0.isProbing = false } }
        while state.withLock({ $0.failingSince != nil }) {
            if await serverAnswers() {
                // Calls that were under way when the server came back get their chance first.
                try? await Task.sleep(for: .milliseconds(500))
                let replace = state.withLock { state -> PostgresClient? in
                    guard state.failingSince != nil else { return nil }
                    state.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
                    state.failingSince = nil
                    return state.client
                }
                if let replace {
                    logger.notice("PostgreSQL answers again; a new connection pool replaces the one still waiting to reconnect")
                    newClientsContinuation.yield(replace)
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func serverAnswers() async -> Bool {
        do {
            let connection = try await PostgresConnection.connect(configuration: probeConfiguration, id: 0, logger: logger)
            try? await connection.close()
            return true
        } catch {
            return false
        }
    }
}
