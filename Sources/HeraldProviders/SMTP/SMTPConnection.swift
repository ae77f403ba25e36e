import Foundation
import HeraldCore
import NIOCore
import NIOPosix
import NIOSSL

/// A session with an SMTP server that has said hello (and, as configured, started TLS and
/// authenticated), ready for mail transactions one at a time.
///
/// The actor runs on its channel's event loop, so that a transaction's commands, replies and
/// body go back and forth without a thread hop between the dialogue and the I/O: a caller
/// pays one hop onto the loop and one back per email.
actor SMTPConnection {
    nonisolated let channel: any Channel
    private var capabilities = SMTPCapabilities()
    private let timeouts: SMTPProvider.Configuration.Timeouts
    /// The deadline of the call that opens the session, while it says hello: no reply is
    /// waited for past it.
    private var handshakeDeadline: NIODeadline?

    nonisolated var unownedExecutor: UnownedSerialExecutor {
        channel.eventLoop.executor.asUnownedSerialExecutor()
    }

    /// A failure, and whether the session can still carry another transaction after RSET:
    /// a clean refusal leaves it usable, a transport error or a 421 does not.
    struct Failure: Error {
        var failure: ProviderFailure
        var stage: SMTPStage
        var keepsConnection: Bool
    }

    nonisolated var isActive: Bool { channel.isActive }

    private init(channel: any Channel, timeouts: SMTPProvider.Configuration.Timeouts) {
        self.channel = channel
        self.timeouts = timeouts
    }

    /// Connects and runs the greeting, EHLO, STARTTLS and AUTH as `configuration` asks.
    static func open(
        _ configuration: SMTPProvider.Configuration, tlsContext: NIOSSLContext?, group: any EventLoopGroup,
        by deadline: ContinuousClock.Instant
    ) async throws(Failure) -> SMTPConnection {
        let serverHostname = isIPAddress(configuration.host) ? nil : configuration.host
        let implicitTLS = configuration.tls == .implicit ? tlsContext : nil
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(min(configuration.timeouts.connect, deadline.timeLeft)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let implicitTLS {
                            let tls = try NIOSSLClientHandler(context: implicitTLS, serverHostname: serverHostname)
                            try channel.pipeline.syncOperations.addHandler(tls)
                        }
                        try channel.pipeline.syncOperations.addHandler(SMTPClientHandler(eventLoop: channel.eventLoop))
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw transportFailure(error, at: .connect)
        }
        let connection = SMTPConnection(channel: channel, timeouts: configuration.timeouts)
        do {
            try await connection.handshake(configuration, tlsContext: tlsContext, serverHostname: serverHostname, by: deadline)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return connection
    }

    private func handshake(
        _ configuration: SMTPProvider.Configuration, tlsContext: NIOSSLContext?, serverHostname: String?,
        by deadline: ContinuousClock.Instant
    ) async throws(Failure) {
        handshakeDeadline = NIODeadline(deadline)
        defer { handshakeDeadline = nil }
        let greeting = try await exchange(nil, stages: [.greeting], timeout: timeouts.greeting).first()
        try Self.expect(greeting, [220], at: .greeting)
        try await hello(configuration.heloName)

        var encrypted = configuration.tls == .implicit
        if let tlsContext, configuration.tls == .startTLS || configuration.tls == .startTLSOptional {
            if capabilities.startTLS {
                try Self.expect(try await command("STARTTLS", stage: .startTLS), [220], at: .startTLS)
                do {
                    try handler().startTLS(context: tlsContext, serverHostname: serverHostname)
                } catch {
                    throw Self.transportFailure(error, at: .startTLS)
                }
                encrypted = true
                // RFC 3207 §4.2: forget what the server said before TLS and ask again.
                try await hello(configuration.heloName)
            } else if configuration.tls == .startTLS {
                throw Self.setupFailure("smtp_starttls_unavailable", "the SMTP server does not offer STARTTLS", at: .startTLS)
            }
        }
        if let username = configuration.username, let password = configuration.password {
            guard encrypted || configuration.tls == .none else {
                throw Self.setupFailure("smtp_auth_needs_tls", "credentials are only sent over TLS, and the server offered none", at: .auth)
            }
            try await authenticate(username: username, password: password)
        }
    }

    /// EHLO, or HELO when the server refuses EHLO (RFC 5321 §3.2).
    private func hello(_ name: String) async throws(Failure) {
        let ehlo = try await command("EHLO \(name)", stage: .hello)
        if ehlo.code == 250 {
            capabilities = SMTPCapabilities(ehloReply: ehlo)
            return
        }
        if !ehlo.isPermanentNegative {
            try Self.expect(ehlo, [250], at: .hello)
            return
        }
        let helo = try await command("HELO \(name)", stage: .hello)
        try Self.expect(helo, [250], at: .hello)
        capabilities = SMTPCapabilities()
    }

    /// AUTH PLAIN, else AUTH LOGIN (RFC 4954, RFC 4616, draft-murchison-sasl-login).
    private func authenticate(username: String, password: String) async throws(Failure) {
        if capabilities.authMechanisms.contains("PLAIN") {
            let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
            try Self.expect(try await command("AUTH PLAIN \(token)", stage: .auth), [235], at: .auth)
        } else if capabilities.authMechanisms.contains("LOGIN") {
            try Self.expect(try await command("AUTH LOGIN", stage: .auth), [334], at: .auth)
            try Self.expect(try await command(Data(username.utf8).base64EncodedString(), stage: .auth), [334], at: .auth)
            try Self.expect(try await command(Data(password.utf8).base64EncodedString(), stage: .auth), [235], at: .auth)
        } else {
            throw Self.setupFailure("smtp_auth_unsupported", "the SMTP server offers neither AUTH PLAIN nor AUTH LOGIN", at: .auth)
        }
    }

    /// What a transaction came to, and whether the session passed to a follower, which then
    /// owns it.
    struct Delivered: Sendable {
        var result: Result<(reply: SMTPReply, refused: [RefusedRecipient]), Failure>
        var handedOver = false
    }

    /// Gives the transaction that may follow the one about to send its message, if a caller
    /// waits with one that fits a session with these capabilities.
    typealias FollowerSource = @Sendable (SMTPCapabilities) -> SMTPConnectionPool.Follower?

    /// Runs one mail transaction: the server's reply to the final `.` and the recipients it
    /// refused while taking the message for the others. `reset` sends RSET first, for a
    /// session that carried an earlier transaction. A message this server cannot take (too
    /// large, or needing an extension it lacks) fails before any command. No reply is waited
    /// for past `deadline`.
    ///
    /// With PIPELINING, the message goes out in one write with the commands of the transaction
    /// that `follower` gives, if any, and the session passes to that transaction: each message
    /// then costs one round trip rather than two.
    func deliver(
        _ envelope: SMTPEnvelope, reset: Bool, configuredLimit: Int?, by deadline: ContinuousClock.Instant,
        follower: @escaping FollowerSource
    ) async -> Delivered {
        let callDeadline = NIODeadline(deadline)
        let transaction: SMTPTransaction
        do {
            transaction = try await sendCommands(of: envelope, reset: reset, configuredLimit: configuredLimit, by: callDeadline)
        } catch {
            return Delivered(result: .failure(error))
        }
        do {
            return try await sendMessage(envelope.data, of: transaction, by: callDeadline, follower: follower).get()
        } catch {
            return Self.unexpected(error)
        }
    }

    /// A transaction's futures carry its failures in their value; one that fails itself (its
    /// event loop shut down under it) ended after the message may have gone out.
    private static func unexpected(_ error: any Error) -> Delivered {
        Delivered(result: .failure(transportFailure(error, at: .dataEnd)))
    }

    /// Sends the message of a transaction whose commands the server took, with the commands
    /// of the transaction `follower` gives behind it, if any.
    ///
    /// The follower's message then goes out from here as soon as its commands are answered,
    /// in the callback of their replies on the event loop, rather than once the follower's
    /// task gets its turn there: a busy session waited for that turn behind every other task
    /// of the loop, between each message and the next. The follower's task runs again only
    /// with the outcome.
    private func sendMessage(
        _ data: ByteBuffer, of transaction: SMTPTransaction, by callDeadline: NIODeadline, follower: @escaping FollowerSource
    ) -> EventLoopFuture<Delivered> {
        let handler: SMTPClientHandler
        do {
            handler = try self.handler()
        } catch {
            // Closed between the 354 and now: the message has not gone out.
            return channel.eventLoop.makeSucceededFuture(Delivered(result: .failure(Self.transportFailure(error, at: .data))))
        }
        var buffers = [data]
        var expectations = [SMTPClientHandler.Expectation(count: 1, timeout: TimeAmount(timeouts.dataEnd), callDeadline: callDeadline)]
        var next: (follower: SMTPConnectionPool.Follower, transaction: SMTPTransaction)?
        if capabilities.pipelining, let waiting = follower(capabilities) {
            let following = SMTPTransaction(waiting.envelope, capabilities: capabilities, reset: true)
            buffers.append(Self.lines(following.lines))
            expectations.append(
                .init(count: following.stages.count, timeout: TimeAmount(timeouts.command), callDeadline: waiting.deadline))
            next = (waiting, following)
        }
        let futures = handler.send(buffers, expecting: expectations)
        if let next {
            futures[1].assumeIsolated().flatMap { results in
                self.assumeIsolated { connection in
                    connection.sendMessage(
                        next.follower.envelope.data, of: next.transaction, answered: results, by: next.follower.deadline,
                        follower: follower)
                }
            }.whenComplete { result in
                switch result {
                case .success(let delivered): next.follower.finish(on: self, delivered)
                case .failure(let error): next.follower.finish(on: self, Self.unexpected(error))
                }
            }
        }
        let refused = transaction.refused
        let handedOver = next != nil
        return futures[0].map { results in
            let result = Result { () throws(Failure) in
                let reply = try Self.replies(results, stages: [.dataEnd]).first()
                try Self.expect(reply, [250], at: .dataEnd)
                return (reply: reply, refused: refused)
            }
            return Delivered(result: result, handedOver: handedOver)
        }
    }

    /// Sends the message of a transaction whose commands went out behind the previous message,
    /// once their replies are in; a refusal among them ends the transaction before its message.
    private func sendMessage(
        _ data: ByteBuffer, of transaction: SMTPTransaction, answered results: [Result<SMTPReply, any Error>],
        by callDeadline: NIODeadline, follower: @escaping FollowerSource
    ) -> EventLoopFuture<Delivered> {
        var transaction = transaction
        let replies = Self.replies(results, stages: transaction.stages)
        for reply in replies.replies { transaction.read(reply) }
        if let failure = transaction.failure ?? replies.failure {
            return channel.eventLoop.makeSucceededFuture(Delivered(result: .failure(failure)))
        }
        return sendMessage(data, of: transaction, by: callDeadline, follower: follower)
    }

    /// Sends the transaction's commands up to DATA and returns the transaction once the server
    /// waits for the message.
    private func sendCommands(
        of envelope: SMTPEnvelope, reset: Bool, configuredLimit: Int?, by callDeadline: NIODeadline
    ) async throws(Failure) -> SMTPTransaction {
        if let refusal = envelope.refusal(by: capabilities, configuredLimit: configuredLimit) {
            throw Failure(failure: refusal, stage: .mailFrom, keepsConnection: true)
        }
        var transaction = SMTPTransaction(envelope, capabilities: capabilities, reset: reset)
        if capabilities.pipelining {
            // RFC 2920: RSET, MAIL, every RCPT and DATA in one write, then the replies in
            // order. The first refusal decides, even when the server hung up after sending it.
            let exchanged = try await exchange(
                Self.lines(transaction.lines), stages: transaction.stages, timeout: timeouts.command, by: callDeadline)
            for reply in exchanged.replies { transaction.read(reply) }
            if let failure = transaction.failure ?? exchanged.failure { throw failure }
        } else {
            for (line, stage) in zip(transaction.lines, transaction.stages) {
                guard transaction.read(try await command(line, stage: stage, by: callDeadline)) else { break }
            }
            if let failure = transaction.failure { throw failure }
        }
        return transaction
    }

    /// Says goodbye and closes, without waiting long for a server that no longer answers.
    func quit() async {
        if channel.isActive {
            _ = try? await command("QUIT", stage: .quit)
        }
        try? await channel.close()
    }

    private func command(_ line: String, stage: SMTPStage, by callDeadline: NIODeadline? = nil) async throws(Failure) -> SMTPReply {
        try await exchange(Self.lines([line]), stages: [stage], timeout: timeouts.command, by: callDeadline).first()
    }

    /// The replies that arrived, in order, and the transport failure that cut the rest off.
    private struct Replies: Sendable {
        var replies: [SMTPReply] = []
        var failure: Failure?

        func first() throws(Failure) -> SMTPReply {
            if let reply = replies.first { return reply }
            throw failure!
        }
    }

    /// Writes `bytes` and waits for one reply per stage, within `timeout` and by the call's
    /// deadline (during the handshake, the one it was opened with).
    private func exchange(
        _ bytes: ByteBuffer?, stages: [SMTPStage], timeout: Duration, by callDeadline: NIODeadline? = nil
    ) async throws(Failure) -> Replies {
        let future: EventLoopFuture<[Result<SMTPReply, any Error>]>
        do {
            future = try handler().send(
                bytes, expecting: stages.count, within: TimeAmount(timeout), by: callDeadline ?? handshakeDeadline)
        } catch {
            throw Self.transportFailure(error, at: stages[0])
        }
        return await Self.replies(future, stages: stages)
    }

    /// The replies `future` brings, in order; a transport failure is classified at the stage
    /// whose reply it cut off.
    private static func replies(_ future: EventLoopFuture<[Result<SMTPReply, any Error>]>, stages: [SMTPStage]) async -> Replies {
        do {
            return replies(try await future.get(), stages: stages)
        } catch {
            return Replies(failure: transportFailure(error, at: stages[0]))
        }
    }

    /// The replies among `results`, in order, up to the transport failure that cut the rest off.
    private static func replies(_ results: [Result<SMTPReply, any Error>], stages: [SMTPStage]) -> Replies {
        var replies = Replies()
        for (result, stage) in zip(results, stages) {
            switch result {
            case .success(let reply):
                replies.replies.append(reply)
            case .failure(let error):
                replies.failure = transportFailure(error, at: stage)
                return replies
            }
        }
        return replies
    }

    /// The session's handler; this actor runs on the channel's event loop, where it lives.
    private func handler() throws -> SMTPClientHandler {
        try channel.pipeline.syncOperations.handler(type: SMTPClientHandler.self)
    }

    private static func transportFailure(_ error: any Error, at stage: SMTPStage) -> Failure {
        Failure(failure: SMTPFailureClassifier.failure(forTransportError: error, at: stage), stage: stage, keepsConnection: false)
    }

    private static func lines(_ commands: [String]) -> ByteBuffer {
        ByteBuffer(string: commands.map { $0 + "\r\n" }.joined())
    }

    /// Passes a reply with one of the `expected` codes; classifies any other.
    private static func expect(_ reply: SMTPReply, _ expected: Set<Int>, at stage: SMTPStage) throws(Failure) {
        if let refusal = refusal(reply, expected: expected, at: stage) { throw refusal }
    }

    /// `nil` for a reply with one of the `expected` codes, else the failure it means.
    static func refusal(_ reply: SMTPReply, expected: Set<Int>, at stage: SMTPStage) -> Failure? {
        guard !expected.contains(reply.code) else { return nil }
        guard reply.code >= 400 else {
            return Failure(
                failure: ProviderFailure(
                    .transient, code: "smtp_unexpected_\(reply.code)",
                    message: "the SMTP server answered \(stage.rawValue) with an unexpected \(reply.code)"),
                stage: stage, keepsConnection: false)
        }
        // 421: the server is closing the connection (RFC 5321 §3.8).
        return Failure(
            failure: SMTPFailureClassifier.failure(for: reply, at: stage), stage: stage,
            keepsConnection: reply.code != 421 && !stage.isSessionSetup)
    }

    private static func setupFailure(_ code: String, _ message: String, at stage: SMTPStage) -> Failure {
        Failure(failure: ProviderFailure(.providerFatal, code: code, message: message), stage: stage, keepsConnection: false)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

extension NIODeadline {
    /// The same instant on NIO's clock.
    init(_ instant: ContinuousClock.Instant) {
        self = .now() + TimeAmount(instant.timeLeft)
    }
}
