import HeraldCore
import NIOPosix
import Testing

@testable import HeraldProviders

@Suite("SMTP session pool", .timeLimit(.minutes(1)))
struct SMTPConnectionPoolTests {
    /// A pool of one session that never finishes opening, so the pool stays full once a first
    /// caller leases it; `connecting` yields when that caller starts opening it.
    static func fullPool() -> (pool: SMTPConnectionPool, connecting: AsyncStream<Void>) {
        let (connecting, connectingContinuation) = AsyncStream<Void>.makeStream()
        let pool = SMTPConnectionPool(maximum: 1, timerLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            _ async throws(SMTPConnection.Failure) in
            connectingContinuation.yield()
            try? await Task.sleep(for: .seconds(3600))
            throw SMTPConnection.Failure(
                failure: ProviderFailure(.transient, code: "test_cancelled", message: "cancelled"), stage: .connect,
                keepsConnection: false)
        }
        return (pool, connecting)
    }

    @Test func `a caller waits for a busy pool's session only until its call's deadline`() async throws {
        let (pool, connecting) = Self.fullPool()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await pool.lease(for: nil, by: .now.advanced(by: .seconds(3600))) }
            for await _ in connecting { break }
            do throws(SMTPConnection.Failure) {
                _ = try await pool.lease(for: nil, by: .now.advanced(by: .milliseconds(100)))
                Issue.record("a full pool handed out a session")
            } catch {
                #expect(error.failure.errorClass == .transient, "the email never left: safe to try again")
                #expect(error.failure.code == "smtp_no_session_in_time")
            }
            group.cancelAll()
        }
    }

    @Test func `a caller cancelled while it waits for a session stops waiting at once`() async throws {
        let (pool, connecting) = Self.fullPool()
        let holder = Task { _ = try? await pool.lease(for: nil, by: .now.advanced(by: .seconds(3600))) }
        for await _ in connecting { break }
        // Its deadline is an hour away: only the cancellation can end the wait within the test's limit.
        let waiter = Task { () async -> String? in
            do throws(SMTPConnection.Failure) {
                _ = try await pool.lease(for: nil, by: .now.advanced(by: .seconds(3600)))
                return nil
            } catch {
                return error.failure.code
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == "cancelled")
        holder.cancel()
    }
}
