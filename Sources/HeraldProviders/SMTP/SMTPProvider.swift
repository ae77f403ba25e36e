import Foundation
import HeraldCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Delivers through an SMTP relay (RFC 5321), with STARTTLS or implicit TLS, AUTH PLAIN or
/// LOGIN, pipelining, and a small pool of reused sessions.
public final class SMTPProvider: EmailProvider {
    public let name: String
    public var kind: String { "smtp" }
    public let configuration: Configuration
    let pool: SMTPConnectionPool
    private let logger: Logger

    /// Fails when the CA file cannot be read: a configuration error to report at startup.
    public init(
        name: String, configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.smtp")
    ) throws {
        self.name = name
        self.configuration = configuration
        var providerLogger = logger
        providerLogger[metadataKey: "provider"] = "\(name)"
        self.logger = providerLogger
        let sessionLogger = providerLogger
        let tlsContext: NIOSSLContext?
        if configuration.tls == .none {
            tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = configuration.caFile { tls.trustRoots = .file(caFile) }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
        self.pool = SMTPConnectionPool(maximum: configuration.maxConnections, timerLoop: eventLoopGroup.any()) {
            (deadline) async throws(SMTPConnection.Failure) in
            sessionLogger.debug("opening an SMTP session")
            return try await SMTPConnection.open(configuration, tlsContext: tlsContext, group: eventLoopGroup, by: deadline)
        }
    }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let envelope = SMTPEnvelope(delivery)
        if let refusal = envelope.refusal(by: nil, configuredLimit: configuration.maxMessageSize) {
            throw refusal
        }
        // A pooled session the server has dropped fails at RSET, before anything was sent:
        // try the next one, at most once per slot, plus a fresh one.
        for _ in 0...configuration.maxConnections {
            let lease = try await lease(for: envelope, by: delivery.deadline)
            let delivered: SMTPConnection.Delivered
            switch lease {
            case .session(let connection, let reused):
                delivered = await connection.deliver(
                    envelope, reset: reused, configuredLimit: configuration.maxMessageSize, by: delivery.deadline
                ) { [pool, configuration] capabilities in
                    pool.takeFollower(fitting: capabilities, configuredLimit: configuration.maxMessageSize)
                }
            case .followed(_, let outcome):
                delivered = outcome
            }
            switch delivered.result {
            case .success(let (reply, refused)):
                if !delivered.handedOver { pool.release(lease.connection, reusable: true) }
                return ProviderReceipt(providerMessageID: Self.queueID(in: reply), refusedRecipients: refused)
            case .failure(let error):
                if !delivered.handedOver { pool.release(lease.connection, reusable: error.keepsConnection) }
                if error.stage == .reset, !error.keepsConnection { continue }
                logger.debug(
                    "SMTP delivery failed",
                    metadata: ["email.id": "\(delivery.emailID)", "attempt": "\(delivery.attempt)", "code": "\(error.failure.code)"])
                throw error.failure
            }
        }
        throw ProviderFailure(.transient, code: "smtp_no_session", message: "no SMTP session survived RSET")
    }

    /// Opens (or reuses) a session: connect, EHLO, STARTTLS and AUTH as configured, then
    /// returns it to the pool without starting a transaction.
    public func verify() async throws -> Bool {
        let lease = try await lease(for: nil, by: .now.advanced(by: configuration.timeouts.connect + configuration.timeouts.greeting))
        pool.release(lease.connection, reusable: true)
        return true
    }

    /// Closes idle sessions politely; call when the server shuts down.
    public func shutdown() async {
        await pool.shutdown()
    }

    /// A session, or what the transaction came to behind another one on a session.
    private func lease(for envelope: SMTPEnvelope?, by deadline: ContinuousClock.Instant) async throws(ProviderFailure)
        -> SMTPConnectionPool.Lease
    {
        do {
            return try await pool.lease(for: envelope, by: deadline)
        } catch {
            throw error.failure
        }
    }

    /// The queue id from replies such as Postfix's `250 2.0.0 Ok: queued as 4Zx1yT0abc`.
    ///
    /// Compares ASCII bytes, ignoring case, rather than asking Foundation for a
    /// case-insensitive search: this runs for every message sent, and that search cost more
    /// than the rest of reading the reply.
    static func queueID(in reply: SMTPReply) -> String? {
        let text = Array(reply.lines.joined(separator: " ").utf8)
        let marker = Array("queued as ".utf8)
        guard text.count > marker.count else { return nil }
        for start in 0...(text.count - marker.count)
        where zip(text[start...], marker).allSatisfy({ byte, expected in byte | 0x20 == expected }) {
            let id = text[(start + marker.count)...].prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            return id.isEmpty ? nil : String(decoding: id, as: UTF8.self)
        }
        return nil
    }
}
