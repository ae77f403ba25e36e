import NIOCore
import NIOSSL

/// The NIO side of an SMTP client connection: splits the byte stream into lines, turns lines
/// into replies with ``SMTPReplyParser`` and hands each reply to the oldest waiting command.
///
/// All methods run on the channel's event loop. Replies that arrive while nothing waits (the
/// greeting, or a 421 before the server hangs up) are kept for the next command. After a
/// failure (timeout, malformed reply, closed connection) every waiting and later command fails
/// with that error and the channel is closed: such a connection is never used again.
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; allow servers generous slack.
    private static let maximumLineLength = 8192

    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var buffer = ByteBuffer()
    private var parser = SMTPReplyParser()
    private var exchanges = CircularBuffer<Exchange>()
    private var unclaimed = CircularBuffer<SMTPReply>()
    private var failure: (any Error)?
    /// Fires by the earliest deadline of a waiting exchange. A finished exchange leaves it set,
    /// and when it fires it only looks again: one timer per connection, rather than one
    /// scheduled and cancelled per exchange, since an exchange nearly always ends in time.
    private var deadlineTimer: (timer: Scheduled<Void>, deadline: NIODeadline)?

    /// A write and the replies it waits for.
    private struct Exchange {
        let expected: Int
        let deadline: NIODeadline
        var results: [Result<SMTPReply, any Error>] = []
        let promise: EventLoopPromise<[Result<SMTPReply, any Error>]>
    }

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes `bytes` (if any) and waits for `count` replies, failing the connection when they
    /// do not all arrive within `timeout`. Pipelined commands are one write with several replies;
    /// each result is a reply or the error that ended the connection before it came, so that
    /// the replies that did arrive (a 421 before the hang-up) can still be read.
    func send(
        _ bytes: ByteBuffer?, expecting count: Int, within timeout: TimeAmount
    ) -> EventLoopFuture<[Result<SMTPReply, any Error>]> {
        let results = { (error: any Error) in Array(repeating: Result<SMTPReply, any Error>.failure(error), count: count) }
        // The error that ended the connection, such as a failed TLS handshake, says more than the
        // closed channel that follows it, so it wins even once the handler is gone.
        if let failure { return eventLoop.makeSucceededFuture(results(failure)) }
        guard let context else { return eventLoop.makeSucceededFuture(results(SMTPTransportError.connectionClosed)) }
        var exchange = Exchange(expected: count, deadline: .now() + timeout, promise: context.eventLoop.makePromise())
        exchange.results.reserveCapacity(count)
        while exchange.results.count < count, exchanges.isEmpty, let reply = unclaimed.popFirst() {
            exchange.results.append(.success(reply))
        }
        let future = exchange.promise.futureResult
        if exchange.results.count == count {
            exchange.promise.succeed(exchange.results)
        } else {
            exchanges.append(exchange)
            armDeadlineTimer(at: exchange.deadline)
        }
        if let bytes {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenFailure { self.fail(with: $0) }
            context.writeAndFlush(wrapOutboundOut(bytes), promise: written)
        }
        return future
    }

    /// Makes sure the timer fires by `deadline`; an earlier one already set is kept.
    private func armDeadlineTimer(at deadline: NIODeadline) {
        if let (_, armedFor) = deadlineTimer {
            guard deadline < armedFor else { return }
            deadlineTimer?.timer.cancel()
        }
        let timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.deadlineTimer = nil
            guard let earliest = self.exchanges.map(\.deadline).min() else { return }
            if earliest <= .now() {
                self.fail(with: SMTPTransportError.timeout)
            } else {
                self.armDeadlineTimer(at: earliest)
            }
        }
        deadlineTimer = (timer, deadline)
    }

    /// Puts TLS under the SMTP dialogue after the server's 220 to STARTTLS (RFC 3207).
    ///
    /// Bytes received before the handshake would have come in plaintext but be read as if
    /// protected (the STARTTLS injection of CVE-2011-0411), so any leftover input is an error.
    func startTLS(context tlsContext: NIOSSLContext, serverHostname: String?) throws {
        guard let context else { throw SMTPTransportError.connectionClosed }
        guard buffer.readableBytes == 0, unclaimed.isEmpty, !parser.isInsideReply else {
            throw SMTPTransportError.malformedReply
        }
        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname)
        try context.pipeline.syncOperations.addHandler(tls, position: .first)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        buffer.writeBuffer(&input)
        while failure == nil, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            do {
                if let reply = try parser.consume(line[...]) { deliver(reply) }
            } catch {
                fail(with: SMTPTransportError.malformedReply)
            }
        }
        if buffer.readableBytes > Self.maximumLineLength {
            fail(with: SMTPTransportError.lineTooLong)
        }
        buffer.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(with: SMTPTransportError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(with: error)
    }

    private func deliver(_ reply: SMTPReply) {
        guard !exchanges.isEmpty else {
            unclaimed.append(reply)
            return
        }
        exchanges[exchanges.startIndex].results.append(.success(reply))
        if exchanges[exchanges.startIndex].results.count == exchanges[exchanges.startIndex].expected {
            let exchange = exchanges.removeFirst()
            exchange.promise.succeed(exchange.results)
        }
    }

    private func fail(with error: any Error) {
        guard failure == nil else { return }
        failure = error
        deadlineTimer?.timer.cancel()
        deadlineTimer = nil
        while var exchange = exchanges.popFirst() {
            exchange.results += repeatElement(.failure(error), count: exchange.expected - exchange.results.count)
            exchange.promise.succeed(exchange.results)
        }
        context?.close(promise: nil)
    }
}
