import HeraldCore
import NIOCore

/// Up to `maximum` sessions with one server, reused across emails.
///
/// A session goes back to the pool only when its last transaction ended cleanly or with a
/// plain refusal; the next user sends RSET before MAIL. A session that failed (timeout, drop,
/// 421) is closed and its slot freed.
actor SMTPConnectionPool {
    private let maximum: Int
    private let connect: @Sendable () async throws(SMTPConnection.Failure) -> SMTPConnection
    private var idle: [SMTPConnection] = []
    /// Sessions that exist or are being opened: idle ones and leased ones.
    private var count = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var isShutDown = false

    init(maximum: Int, connect: @escaping @Sendable () async throws(SMTPConnection.Failure) -> SMTPConnection) {
        self.maximum = max(1, maximum)
        self.connect = connect
    }

    /// A session, and whether it carried a transaction before (and so needs RSET).
    func lease() async throws(SMTPConnection.Failure) -> (connection: SMTPConnection, reused: Bool) {
        while true {
            guard !isShutDown else {
                throw SMTPConnection.Failure(
                    failure: ProviderFailure(.transient, code: "smtp_shut_down", message: "the SMTP provider is shutting down"),
                    stage: .connect, keepsConnection: false)
            }
            if let connection = idle.popLast() {
                if connection.isActive { return (connection, true) }
                discard(connection)
                continue
            }
            if count < maximum {
                count += 1
                do {
                    return (try await connect(), false)
                } catch {
                    count -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ connection: SMTPConnection, reusable: Bool) {
        if reusable, !isShutDown, connection.isActive {
            idle.append(connection)
            wakeOne()
        } else {
            discard(connection)
        }
    }

    /// Closes idle sessions with QUIT; leased ones close when they come back.
    func shutdown() async {
        isShutDown = true
        let closing = idle
        idle = []
        count -= closing.count
        for waiter in waiters { waiter.resume() }
        waiters = []
        for connection in closing { await connection.quit() }
    }

    private func discard(_ connection: SMTPConnection) {
        count -= 1
        connection.channel.close(promise: nil)
        wakeOne()
    }

    private func wakeOne() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().resume()
    }
}
