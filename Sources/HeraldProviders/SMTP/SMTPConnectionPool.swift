import HeraldCore
import NIOCore
import Synchronization

/// Up to `maximum` sessions with one server, reused across emails.
///
/// A session goes back to the pool only when its last transaction ended cleanly or with a
/// plain refusal; the next user sends RSET before MAIL. A session that failed (timeout, drop,
/// 421) is closed and its slot freed.
///
/// A lock rather than an actor guards the pool: taking an idle session and giving it back
/// happen for every email, and are too short to be worth a hop onto another executor.
final class SMTPConnectionPool: Sendable {
    private struct State {
        var idle: [SMTPConnection] = []
        /// Sessions that exist or are being opened: idle ones and leased ones.
        var count = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var isShutDown = false

        /// Whether a caller would get somewhere now rather than wait.
        var canProceed: Bool { isShutDown || !idle.isEmpty || count < maximum }
        let maximum: Int
    }

    private enum Step {
        case use(SMTPConnection)
        case discard(SMTPConnection)
        case connect
        case wait
        case shutDown
    }

    private let connect: @Sendable () async throws(SMTPConnection.Failure) -> SMTPConnection
    private let state: Mutex<State>

    init(maximum: Int, connect: @escaping @Sendable () async throws(SMTPConnection.Failure) -> SMTPConnection) {
        self.connect = connect
        self.state = Mutex(State(maximum: max(1, maximum)))
    }

    /// A session, and whether it carried a transaction before (and so needs RSET).
    func lease() async throws(SMTPConnection.Failure) -> (connection: SMTPConnection, reused: Bool) {
        while true {
            let step = state.withLock { state -> Step in
                if state.isShutDown { return .shutDown }
                if let connection = state.idle.popLast() {
                    return connection.isActive ? .use(connection) : .discard(connection)
                }
                guard state.count < state.maximum else { return .wait }
                state.count += 1
                return .connect
            }
            switch step {
            case .use(let connection):
                return (connection, true)
            case .discard(let connection):
                discard(connection)
            case .connect:
                do {
                    return (try await connect(), false)
                } catch {
                    state.withLock { $0.count -= 1 }
                    wakeOne()
                    throw error
                }
            case .wait:
                await withCheckedContinuation { continuation in
                    let waits = state.withLock { state in
                        guard !state.canProceed else { return false }
                        state.waiters.append(continuation)
                        return true
                    }
                    if !waits { continuation.resume() }
                }
            case .shutDown:
                throw SMTPConnection.Failure(
                    failure: ProviderFailure(.transient, code: "smtp_shut_down", message: "the SMTP provider is shutting down"),
                    stage: .connect, keepsConnection: false)
            }
        }
    }

    func release(_ connection: SMTPConnection, reusable: Bool) {
        let kept = state.withLock { state in
            guard reusable, !state.isShutDown, connection.isActive else { return false }
            state.idle.append(connection)
            return true
        }
        if kept {
            wakeOne()
        } else {
            discard(connection)
        }
    }

    /// Closes idle sessions with QUIT; leased ones close when they come back.
    func shutdown() async {
        let (closing, waiters) = state.withLock { state in
            state.isShutDown = true
            defer {
                state.count -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.resume() }
        for connection in closing { await connection.quit() }
    }

    private func discard(_ connection: SMTPConnection) {
        state.withLock { $0.count -= 1 }
        connection.channel.close(promise: nil)
        wakeOne()
    }

    private func wakeOne() {
        let waiter = state.withLock { state in state.waiters.isEmpty ? nil : state.waiters.removeFirst() }
        waiter?.resume()
    }
}
