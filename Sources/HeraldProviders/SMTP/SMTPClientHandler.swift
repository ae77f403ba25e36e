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
    /// Fires by the deadline of the oldest waiting exchange, or later. An exchange that ends
    /// in time leaves it set, and when it fires it only looks again: one timer per connection,
    /// rather than one scheduled and cancelled per exchange, since nearly every exchange ends in
    /// time.
    private var deadlineTimer: (timer: Scheduled<Void>, deadline: NIODeadline)?
    private var nextExchangeID = 0

    /// Replies awaited for one write, or for one part of a write that pipelines several.
    struct Expectation {
        /// How many replies.
        var count: Int
        /// How long the server may take to send them, counted from when the replies before
        /// them have come: a transaction pipelined behind another's final `.` waits for the
        /// server to finish that message first.
        var timeout: TimeAmount
        /// When the call the replies are for must end, whatever the timeout.
        var callDeadline: NIODeadline?
    }

    private struct Exchange {
        let id: Int
        let expectation: Expectation
        /// Whether the bytes that asked for these replies have been written out.
        var isWritten: Bool
        /// Set once the exchange is the oldest waiting one.
        var deadline: NIODeadline?
        var results: [Result<SMTPReply, any Error>] = []
        let promise: EventLoopPromise<[Result<SMTPReply, any Error>]>

        var isComplete: Bool { results.count == expectation.count }

        mutating func startClock() {
            let byTimeout = NIODeadline.now() + expectation.timeout
            deadline = expectation.callDeadline.map { min($0, byTimeout) } ?? byTimeout
        }
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
        _ bytes: ByteBuffer?, expecting count: Int, within timeout: TimeAmount, by callDeadline: NIODeadline? = nil
    ) -> EventLoopFuture<[Result<SMTPReply, any Error>]> {
        send(bytes.map { [$0] } ?? [], expecting: [Expectation(count: count, timeout: timeout, callDeadline: callDeadline)])[0]
    }

    /// Writes `buffers` in one flush and waits for each expectation's replies in turn: one
    /// future per expectation, so that transactions pipelined in one write each get their own.
    func send(_ buffers: [ByteBuffer], expecting expectations: [Expectation]) -> [EventLoopFuture<[Result<SMTPReply, any Error>]>] {
        // The error that ended the connection, such as a failed TLS handshake, says more than the
        // closed channel that follows it, so it wins even once the handler is gone.
        guard failure == nil, let context else {
            let error = failure ?? SMTPTransportError.connectionClosed
            return expectations.map { eventLoop.makeSucceededFuture(Array(repeating: .failure(error), count: $0.count)) }
        }
        let firstID = nextExchangeID
        nextExchangeID += expectations.count
        let futures = expectations.enumerated().map { index, expectation in
            let exchange = Exchange(
                id: firstID + index, expectation: expectation, isWritten: buffers.isEmpty, promise: context.eventLoop.makePromise())
            exchanges.append(exchange)
            return exchange.promise.futureResult
        }
        // Replies that came while nothing waited (the greeting) belong to the oldest exchange.
        while !exchanges.isEmpty, let reply = unclaimed.popFirst() {
            deliver(reply)
        }
        startOldestExchangeClock()
        // Each buffer gets its own promise, which marks its expectation written (the last one,
        // those left too): a message's final dot may be out even when the commands pipelined
        // behind it are not.
        for (index, buffer) in buffers.enumerated() {
            let written = context.eventLoop.makePromise(of: Void.self)
            let isLast = index == buffers.count - 1
            let end = firstID + expectations.count
            let ids = min(firstID + index, end)..<(isLast ? end : min(firstID + index + 1, end))
            written.futureResult.assumeIsolated().whenComplete { result in
                switch result {
                case .success: self.markWritten(ids)
                case .failure(let error): self.fail(with: error)
                }
            }
            if isLast {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: written)
            } else {
                context.write(wrapOutboundOut(buffer), promise: written)
            }
        }
        return futures
    }

    /// Starts the oldest waiting exchange's clock, if it has not started yet.
    private func startOldestExchangeClock() {
        guard !exchanges.isEmpty, exchanges[exchanges.startIndex].deadline == nil else { return }
        exchanges[exchanges.startIndex].startClock()
        armDeadlineTimer(at: exchanges[exchanges.startIndex].deadline!)
    }

    /// Makes sure the timer fires by `deadline`; an earlier one already set is kept.
    private func armDeadlineTimer(at deadline: NIODeadline) {
        if let (_, armedFor) = deadlineTimer {
            guard deadline < armedFor else { return }
            deadlineTimer?.timer.cancel()
        }
        let timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.deadlineTimer = nil
            guard let oldest = self.exchanges.first?.deadline else { return }
            if oldest <= .now() {
                self.fail(with: SMTPTransportError.timeout)
            } else {
                self.armDeadlineTimer(at: oldest)
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
            let endsWithCR = length > 0 && buffer.getInteger(at: newline - 1, as: UInt8.self) == UInt8(ascii: "\r")
            let parsed = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(SMTPReplyParser.Error) in
                    try parser.consume(
                        UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[..<(endsWithCR ? length - 1 : length)]))
                }
            }
            buffer.moveReaderIndex(forwardBy: length + 1)
            switch parsed {
            case .success(let reply?): deliver(reply)
            case .success(nil): break
            case .failure: fail(with: SMTPTransportError.malformedReply)
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
        if exchanges[exchanges.startIndex].isComplete {
            let exchange = exchanges.removeFirst()
            startOldestExchangeClock()
            exchange.promise.succeed(exchange.results)
        }
    }

    private func markWritten(_ ids: Range<Int>) {
        for index in exchanges.indices where ids.contains(exchanges[index].id) { exchanges[index].isWritten = true }
    }

    private func fail(with error: any Error) {
        guard failure == nil else { return }
        failure = error
        deadlineTimer?.timer.cancel()
        deadlineTimer = nil
        while var exchange = exchanges.popFirst() {
            let error = exchange.isWritten ? error : SMTPTransportError.notWritten
            exchange.results += repeatElement(.failure(error), count: exchange.expectation.count - exchange.results.count)
            exchange.promise.succeed(exchange.results)
        }
        context?.close(promise: nil)
    }
}
