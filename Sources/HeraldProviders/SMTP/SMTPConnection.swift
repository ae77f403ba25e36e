import Foundation
import HeraldCore
import NIOCore
import NIOPosix
import NIOSSL

/// A session with an SMTP server that has said hello (and, as configured, started TLS and
/// authenticated), ready for mail transactions one at a time.
struct SMTPConnection: Sendable {
    let channel: any Channel
    private(set) var capabilities: SMTPCapabilities
    private let timeouts: SMTPProvider.Configuration.Timeouts

    /// A failure, and whether the session can still carry another transaction after RSET:
    /// a clean refusal leaves it usable, a transport error or a 421 does not.
    struct Failure: Error {
        var failure: ProviderFailure
        var stage: SMTPStage
        var keepsConnection: Bool
    }

    var isActive: Bool { channel.isActive }

    /// Connects and runs the greeting, EHLO, STARTTLS and AUTH as `configuration` asks.
    static func open(
        _ configuration: SMTPProvider.Configuration, tlsContext: NIOSSLContext?, group: any EventLoopGroup
    ) async throws(Failure) -> SMTPConnection {
        let serverHostname = isIPAddress(configuration.host) ? nil : configuration.host
        let implicitTLS = configuration.tls == .implicit ? tlsContext : nil
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(configuration.timeouts.connect))
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
        var connection = SMTPConnection(channel: channel, capabilities: SMTPCapabilities(), timeouts: configuration.timeouts)
        do {
            try await connection.handshake(configuration, tlsContext: tlsContext, serverHostname: serverHostname)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return connection
    }

    private mutating func handshake(
        _ configuration: SMTPProvider.Configuration, tlsContext: NIOSSLContext?, serverHostname: String?
    ) async throws(Failure) {
        let greeting = try await exchange(nil, count: 1, stage: .greeting, timeout: timeouts.greeting).first()
        try Self.expect(greeting, [220], at: .greeting)
        try await hello(configuration.heloName)

        var encrypted = configuration.tls == .implicit
        if let tlsContext, configuration.tls == .startTLS || configuration.tls == .startTLSOptional {
            if capabilities.startTLS {
                try Self.expect(try await command("STARTTLS", stage: .startTLS), [220], at: .startTLS)
                try await onEventLoop(stage: .startTLS) { handler, eventLoop in
                    try handler.startTLS(context: tlsContext, serverHostname: serverHostname)
                    return eventLoop.makeSucceededVoidFuture()
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
    private mutating func hello(_ name: String) async throws(Failure) {
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

    /// Runs one mail transaction and returns the server's reply to the final `.`.
    /// `reset` sends RSET first, for a connection that carried an earlier transaction.
    func deliver(_ envelope: SMTPEnvelope, reset: Bool) async throws(Failure) -> SMTPReply {
        if reset {
            try Self.expect(try await command("RSET", stage: .reset), [250], at: .reset)
        }
        let mail = envelope.mailCommand(for: capabilities)
        let rcpts = envelope.rcptCommands
        if capabilities.pipelining {
            // RFC 2920: MAIL and every RCPT in one write, then the replies in order. The first
            // refusal decides, even when the server hung up after sending it.
            let exchanged = try await exchange(
                Self.lines([mail] + rcpts), count: 1 + rcpts.count, stage: .rcptTo, timeout: timeouts.command)
            for (index, reply) in exchanged.replies.enumerated() {
                if index == 0 { try Self.expect(reply, [250], at: .mailFrom) } else { try Self.expect(reply, [250, 251], at: .rcptTo) }
            }
            if let failure = exchanged.failure { throw failure }
        } else {
            try Self.expect(try await command(mail, stage: .mailFrom), [250], at: .mailFrom)
            for rcpt in rcpts { try Self.expect(try await command(rcpt, stage: .rcptTo), [250, 251], at: .rcptTo) }
        }
        try Self.expect(try await command("DATA", stage: .data), [354], at: .data)
        let content = ByteBuffer(bytes: SMTPDataEncoder.encode(envelope.message))
        let reply = try await exchange(content, count: 1, stage: .dataEnd, timeout: timeouts.dataEnd).first()
        try Self.expect(reply, [250], at: .dataEnd)
        return reply
    }

    /// Says goodbye and closes, without waiting long for a server that no longer answers.
    func quit() async {
        if channel.isActive {
            _ = try? await command("QUIT", stage: .quit)
        }
        try? await channel.close()
    }

    private func command(_ line: String, stage: SMTPStage) async throws(Failure) -> SMTPReply {
        try await exchange(Self.lines([line]), count: 1, stage: stage, timeout: timeouts.command).first()
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

    private func exchange(_ bytes: ByteBuffer?, count: Int, stage: SMTPStage, timeout: Duration) async throws(Failure) -> Replies {
        try await onEventLoop(stage: stage) { handler, _ in
            handler.send(bytes, expecting: count, within: TimeAmount(timeout)).map { results in
                var replies = Replies()
                for result in results {
                    switch result {
                    case .success(let reply):
                        replies.replies.append(reply)
                    case .failure(let error):
                        replies.failure = Self.transportFailure(error, at: stage)
                        return replies
                    }
                }
                return replies
            }
        }
    }

    private func onEventLoop<Result: Sendable>(
        stage: SMTPStage, _ body: @escaping @Sendable (SMTPClientHandler, any EventLoop) throws -> EventLoopFuture<Result>
    ) async throws(Failure) -> Result {
        do {
            return try await channel.eventLoop.flatSubmit { [channel] in
                do {
                    return try body(channel.pipeline.syncOperations.handler(type: SMTPClientHandler.self), channel.eventLoop)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }.get()
        } catch {
            throw Self.transportFailure(error, at: stage)
        }
    }

    private static func transportFailure(_ error: any Error, at stage: SMTPStage) -> Failure {
        Failure(failure: SMTPFailureClassifier.failure(forTransportError: error, at: stage), stage: stage, keepsConnection: false)
    }

    private static func lines(_ commands: [String]) -> ByteBuffer {
        ByteBuffer(string: commands.map { $0 + "\r\n" }.joined())
    }

    /// Passes a reply with one of the `expected` codes; classifies any other.
    private static func expect(_ reply: SMTPReply, _ expected: Set<Int>, at stage: SMTPStage) throws(Failure) {
        guard !expected.contains(reply.code) else { return }
        guard reply.code >= 400 else {
            throw Failure(
                failure: ProviderFailure(
                    .transient, code: "smtp_unexpected_\(reply.code)",
                    message: "the SMTP server answered \(stage.rawValue) with an unexpected \(reply.code)"),
                stage: stage, keepsConnection: false)
        }
        // 421: the server is closing the connection (RFC 5321 §3.8).
        throw Failure(
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
