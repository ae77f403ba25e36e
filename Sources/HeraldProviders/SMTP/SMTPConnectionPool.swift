import HeraldCore
import NIOCore
import Synchronization

/// Up to `maximum` sessions with one server, reused across emails.
///
/// A session goes back to the pool only when its last transaction ended cleanly or with a
/// plain refusal; the next user sends RSET before MAIL. A session that failed (timeout, drop,
/// 421) is closed and its slot freed.
///
/// A caller that waits for a session may also be taken as the *follower* of a transaction
/// about to send its message: its RSET, MAIL, RCPT and DATA then go out in the same write as
/// that message (RFC 2920 §3.1 lets message content start a pipelined group), and the session
/// passes to it without a round trip of its own. The session then sends the follower's message
/// as soon as those commands are answered, and the follower waits on until it has the outcome.
///
/// A lock rather than an actor guards the pool: taking an idle session and giving it back
/// happen for every email, and are too short to be worth a hop onto another executor.
final class SMTPConnectionPool: Sendable {
    private struct State {
        var idle: [SMTPConnection] = []
        /// Sessions that exist or are being opened: idle ones and leased ones.
        var count = 0
        /// Callers waiting for a session, oldest first.
        var waiters: [Waiter] = []
        var isShutDown = false
        /// The timer that ends overdue waits, while one is set. A timer set for an earlier
        /// deadline supersedes it; one that finds another generation here does nothing.
        var timer: (deadline: NIODeadline, generation: Int)?
        var timerGenerations = 0
        var waiterIDs = 0

        /// Sets the timer for `deadline`, returning its generation.
        mutating func setTimer(for deadline: NIODeadline) -> Int {
            timerGenerations += 1
            timer = (deadline, timerGenerations)
            return timerGenerations
        }

        /// Whether a caller would get somewhere now rather than wait.
        var canProceed: Bool { isShutDown || !idle.isEmpty || count < maximum }
        let maximum: Int
    }

    private struct Waiter {
        /// Which wait this is, for a cancelled caller to find its own.
        let id: Int
        /// The message the caller will send; none for a caller that only checks a session.
        let envelope: SMTPEnvelope?
        let deadline: NIODeadline
        let continuation: CheckedContinuation<WaitOutcome, Never>
    }

    fileprivate enum WaitOutcome {
        case tryAgain
        case deadlinePassed
        case cancelled
        case followed(SMTPConnection, SMTPConnection.Delivered)
    }

    /// A session for one transaction, or what the transaction came to when the session ran it
    /// behind the previous one.
    enum Lease {
        /// `reused`: the session carried a transaction before, so this one starts with RSET.
        case session(SMTPConnection, reused: Bool)
        case followed(SMTPConnection, SMTPConnection.Delivered)

        var connection: SMTPConnection {
            switch self {
            case .session(let connection, _), .followed(let connection, _): connection
            }
        }
    }

    /// The oldest waiting caller, taken to follow a transaction on a session, which runs the
    /// caller's transaction for it: the caller waits on until ``finish(on:_:)`` hands it the
    /// session and what its transaction came to.
    struct Follower: Sendable {
        let envelope: SMTPEnvelope
        let deadline: NIODeadline
        fileprivate let continuation: CheckedContinuation<WaitOutcome, Never>

        func finish(on connection: SMTPConnection, _ delivered: SMTPConnection.Delivered) {
            continuation.resume(returning: .followed(connection, delivered))
        }
    }

    private enum Step {
        case use(SMTPConnection)
        case discard(SMTPConnection)
        case connect
        case wait
        case shutDown
    }

    private let connect: @Sendable (_ deadline: ContinuousClock.Instant) async throws(SMTPConnection.Failure) -> SMTPConnection
    private let state: Mutex<State>
    /// Runs the timer that ends the waits of callers whose deadline passes.
    private let timerLoop: any EventLoop

    init(
        maximum: Int, timerLoop: any EventLoop,
        connect: @escaping @Sendable (_ deadline: ContinuousClock.Instant) async throws(SMTPConnection.Failure) -> SMTPConnection
    ) {
        self.connect = connect
        self.timerLoop = timerLoop
        self.state = Mutex(State(maximum: max(1, maximum)))
    }

    /// A session for `envelope`'s transaction, or for no transaction when it is nil. Waits
    /// for one at most until `deadline`.
    func lease(for envelope: SMTPEnvelope?, by deadline: ContinuousClock.Instant) async throws(SMTPConnection.Failure) -> Lease {
        let waitDeadline = NIODeadline(deadline)
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
                return .session(connection, reused: true)
            case .discard(let connection):
                discard(connection)
            case .connect:
                do {
                    return .session(try await connect(deadline), reused: false)
                } catch {
                    state.withLock { $0.count -= 1 }
                    wakeOne()
                    throw error
                }
            case .wait:
                let id = state.withLock { state in
                    state.waiterIDs += 1
                    return state.waiterIDs
                }
                let outcome = await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let (immediate, timerGeneration) = state.withLock { state -> (WaitOutcome?, Int?) in
                            // Checked under the lock, as the handler below looks: a cancellation
                            // either comes before this and is seen here, or finds the waiter.
                            if Task.isCancelled { return (.cancelled, nil) }
                            guard !state.canProceed else { return (.tryAgain, nil) }
                            state.waiters.append(Waiter(id: id, envelope: envelope, deadline: waitDeadline, continuation: continuation))
                            guard state.timer.map({ waitDeadline < $0.deadline }) ?? true else { return (nil, nil) }
                            return (nil, state.setTimer(for: waitDeadline))
                        }
                        if let immediate { continuation.resume(returning: immediate) }
                        if let timerGeneration { scheduleTimer(at: waitDeadline, generation: timerGeneration) }
                    }
                } onCancel: {
                    let waiter = state.withLock { state in
                        state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
                    }
                    waiter?.continuation.resume(returning: .cancelled)
                }
                switch outcome {
                case .tryAgain:
                    continue
                case .followed(let connection, let delivered):
                    return .followed(connection, delivered)
                case .deadlinePassed:
                    throw SMTPConnection.Failure(
                        failure: ProviderFailure(
                            .transient, code: "smtp_no_session_in_time",
                            message: "every SMTP session stayed busy until the call's deadline"),
                        stage: .connect, keepsConnection: false)
                case .cancelled:
                    // As the dispatcher records any cancelled call (shutdown): the round stops
                    // here instead of trying the next provider, and the email is due again.
                    throw SMTPConnection.Failure(
                        failure: ProviderFailure(
                            .ambiguous, code: "cancelled", message: "the call was cancelled while it waited for an SMTP session"),
                        stage: .connect, keepsConnection: false)
                }
            case .shutDown:
                throw SMTPConnection.Failure(
                    failure: ProviderFailure(.transient, code: "smtp_shut_down", message: "the SMTP provider is shutting down"),
                    stage: .connect, keepsConnection: false)
            }
        }
    }

    /// Sessions open or being opened, idle or leased.
    var sessionCount: Int { state.withLock(\.count) }

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
        for waiter in waiters { waiter.continuation.resume(returning: .tryAgain) }
        for connection in closing { await connection.quit() }
    }

    private func discard(_ connection: SMTPConnection) {
        state.withLock { $0.count -= 1 }
        connection.channel.close(promise: nil)
        wakeOne()
    }

    private func wakeOne() {
        let waiter = state.withLock { state in state.waiters.isEmpty ? nil : state.waiters.removeFirst() }
        waiter?.continuation.resume(returning: .tryAgain)
    }

    /// The oldest waiting caller, if its message can follow on a session with `capabilities`;
    /// it no longer waits for a session of its own.
    func takeFollower(fitting capabilities: SMTPCapabilities, configuredLimit: Int?) -> Follower? {
        state.withLock { state in
            guard let oldest = state.waiters.first, let envelope = oldest.envelope,
                envelope.refusal(by: capabilities, configuredLimit: configuredLimit) == nil
            else { return nil }
            state.waiters.removeFirst()
            return Follower(envelope: envelope, deadline: oldest.deadline, continuation: oldest.continuation)
        }
    }

    /// Ends the waits whose deadline has passed, then sets itself for the next one. Waits that
    /// end with a session leave the timer be: one timer serves the pool, rather than one set
    /// and cancelled per wait, since a wait nearly always ends in time.
    private func scheduleTimer(at deadline: NIODeadline, generation: Int) {
        timerLoop.scheduleTask(deadline: deadline) {
            let now = NIODeadline.now()
            let (expired, next) = self.state.withLock { state -> ([Waiter], (NIODeadline, Int)?) in
                guard state.timer?.generation == generation else { return ([], nil) }
                let expired = state.waiters.filter { $0.deadline <= now }
                state.waiters.removeAll { $0.deadline <= now }
                guard let earliest = state.waiters.map(\.deadline).min() else {
                    state.timer = nil
                    return (expired, nil)
                }
                return (expired, (earliest, state.setTimer(for: earliest)))
            }
            for waiter in expired { waiter.continuation.resume(returning: .deadlinePassed) }
            if let (deadline, generation) = next { self.scheduleTimer(at: deadline, generation: generation) }
        }
    }
}
