import HeraldCore
import NIOCore
import PostgresNIO
import Synchronization

/// One store call with a deadline: it takes a pooled connection, runs its statements on it,
/// and answers its caller within `timeout`, whatever the server or the driver do.
///
/// A call that misses its deadline throws ``StoreError`` `unavailable` at once. The work is
/// cancelled, which ends a wait for a pooled connection, and its connection is closed, which
/// fails a statement the server never answers (a frozen or unreachable server) and frees its
/// slot in the pool. The work itself runs in a task of its own, not a child task, because the
/// caller must not wait for it: postgres-nio 1.33 can hand out a connection the server just
/// dropped, and a statement written to it waits forever and ignores cancellation.
final class BoundedConnectionCall<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var connection: PostgresConnection?
        var work: Task<Void, Never>?
        var timer: Scheduled<Void>?
    }

    private let state = Mutex(State())

    /// The supervisor of the client, told whether the call got through; nil for a client run
    /// by someone else.
    private let supervisor: ClientSupervisor?

    private init(supervisor: ClientSupervisor?) {
        self.supervisor = supervisor
    }

    /// Runs `body` on a connection of `client`; `timeout` counts from now and includes the
    /// wait for a connection.
    static func run(
        on client: PostgresClient, supervisedBy supervisor: ClientSupervisor?, timeout: TimeAmount,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let call = BoundedConnectionCall(supervisor: supervisor)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                call.start(continuation, client: client, timeout: timeout, body)
            }
        } onCancel: {
            call.abandon(with: CancellationError())
        }
    }

    private func start(
        _ continuation: CheckedContinuation<Result, any Error>, client: PostgresClient, timeout: TimeAmount,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) {
        state.withLock { $0.continuation = continuation }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: timeout) {
            self.supervisor?.callFailed()
            self.abandon(with: StoreError(.unavailable, "PostgreSQL did not answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        let work = Task {
            do {
                let result = try await client.withConnection { connection in
                    self.state.withLock { $0.connection = connection }
                    defer { self.state.withLock { $0.connection = nil } }
                    return try await body(connection)
                }
                self.supervisor?.callSucceeded()
                self.answer(.success(result))
            } catch let error as StoreError {
                // The store's own verdict (not found, lease lost): the server answered.
                self.supervisor?.callSucceeded()
                self.answer(.failure(error))
            } catch {
                self.supervisor?.callFailed()
                self.answer(.failure(Self.storeError(error)))
            }
        }
        let alreadyFinished = state.withLock { state -> Bool in
            guard state.continuation != nil else { return true }
            state.work = work
            state.timer = timer
            return false
        }
        if alreadyFinished {
            timer.cancel()
            work.cancel()
        }
    }

    /// Answers the caller with the work's result, unless a timeout or cancellation came first.
    private func answer(_ result: Swift.Result<Result, any Error>) {
        let taken = state.withLock { state in
            defer { state = State() }
            return (state.continuation, state.timer)
        }
        taken.1?.cancel()
        taken.0?.resume(with: result)
    }

    /// Answers the caller with `error` before the work finished, and stops the work as far as
    /// it can be stopped.
    private func abandon(with error: any Error) {
        let taken = state.withLock { state in
            defer { state = State() }
            return (state.continuation, state.work, state.timer, state.connection)
        }
        guard let continuation = taken.0 else { return }
        taken.2?.cancel()
        taken.1?.cancel()
        if let connection = taken.3 {
            let _: EventLoopFuture<Void> = connection.close()
        }
        continuation.resume(throwing: error)
    }

    /// Errors the caller can act on: ``StoreError`` and cancellation as they are, and anything
    /// the driver throws (a lost connection, a server shutting down) as `unavailable`.
    private static func storeError(_ error: any Error) -> any Error {
        switch error {
        case is StoreError, is CancellationError: error
        default: StoreError(.unavailable, "PostgreSQL failed: \(describe(error))")
        }
    }

    /// The kind of a driver error, without what postgres-nio's debug description adds: the
    /// statement's values and the server's message, which can quote them.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(type(of: error))" }
        let sqlState = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
        return "\(error.code)\(sqlState)"
    }
}
