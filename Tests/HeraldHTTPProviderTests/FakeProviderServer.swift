import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A request as the fake server received it.
struct RecordedRequest: Sendable {
    let method: String
    let path: String
    let headers: HTTPFields
    let body: [UInt8]

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// How a bodiless read differs from the one expected: its method, its path, the values of
    /// the named headers.
    func problems(reading path: String, headers expected: [String: String]) -> [String] {
        var problems: [String] = []
        if method != "GET" || self.path != path { problems.append("expected GET \(path), got \(method) \(self.path)") }
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) where header(name) != value {
            problems.append("\(name) is not \(value)")
        }
        if !body.isEmpty { problems.append("a GET with a body") }
        return problems
    }
}

/// What the fake server does with a request.
enum FakeAnswer: Sendable {
    case respond(status: Int, headers: [String: String] = [:], body: String = "")
    /// Holds the request without answering until the test ends: past any client timeout.
    case hang
    /// Closes the connection on the first bytes of a request, without answering.
    case drop
}

/// A stand-in for a provider's API on 127.0.0.1 and a free port: Hummingbird answers as told,
/// after recording each request and checking it against the provider's published format.
/// ``run(answer:check:_:)`` stops the server when the test body returns or throws.
final class FakeProviderServer: Sendable {
    /// Finds what is wrong with a request; an empty list means it follows the format.
    typealias Check = @Sendable (RecordedRequest) -> [String]

    let endpoint: String
    private let recorder: Recorder

    private init(endpoint: String, recorder: Recorder) {
        self.endpoint = endpoint
        self.recorder = recorder
    }

    var requests: [RecordedRequest] { recorder.state.withLock { $0.requests } }
    /// Every way in which the requests so far broke the provider's format.
    var problems: [String] { recorder.state.withLock { $0.problems } }

    /// What the server has received, shared between its handler and the test.
    final class Recorder: Sendable {
        let state = Mutex<(requests: [RecordedRequest], problems: [String])>(([], []))
    }

    static func run<T>(
        answer: FakeAnswer, check: @escaping Check, _ body: (FakeProviderServer) async throws -> T
    ) async throws -> T {
        let recorder = Recorder()
        let gate = Gate()
        if case .drop = answer {
            return try await runDropping(recorder: recorder, body)
        }
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let recorded = RecordedRequest(
                method: request.method.rawValue, path: request.uri.path, headers: request.headers,
                body: Array(try await request.body.collect(upTo: 64 * 1024 * 1024).readableBytesView)
            )
            let problems = check(recorded)
            recorder.state.withLock {
                $0.requests.append(recorded)
                $0.problems += problems
            }
            switch answer {
            case .respond(let status, let headers, let body):
                var fields = HTTPFields()
                for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
                if !body.isEmpty, fields[.contentType] == nil { fields[.contentType] = "application/json" }
                return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
            case .hang, .drop:
                await gate.wait()
                return Response(status: .serviceUnavailable)
            }
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "fake-provider")
        logger.logLevel = .warning
        let app = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        // Stopped gracefully, not cancelled: held requests are let go first, then the server
        // closes its idle connections and returns.
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { portContinuation.finish() }
                try await services.run()
            }
            guard let port = await ports.first(where: { _ in true }), port != 0 else {
                await services.triggerGracefulShutdown()
                throw FakeServerError.didNotStart
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(FakeProviderServer(endpoint: "http://127.0.0.1:\(port)", recorder: recorder)))
            } catch {
                result = .failure(error)
            }
            gate.open()
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }

    /// A plain NIO listener that closes every connection as soon as a request starts to arrive.
    private static func runDropping<T>(
        recorder: Recorder, _ body: (FakeProviderServer) async throws -> T
    ) async throws -> T {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.pipeline.addHandler(CloseOnRead()) }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = FakeProviderServer(endpoint: "http://127.0.0.1:\(channel.localAddress?.port ?? 0)", recorder: recorder)
        do {
            let result = try await body(server)
            try await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private final class CloseOnRead: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.close(promise: nil)
        }
    }

    /// Lets held requests go once the test is over, so that the server can stop.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

        func wait() async {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            let waiting = state.withLock { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    enum FakeServerError: Error {
        case didNotStart
    }
}

/// Small helpers for reading the JSON the adapters send.
extension Dictionary where Key == String, Value == Any {
    func object(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    func array(_ key: String) -> [[String: Any]]? { self[key] as? [[String: Any]] }
    func string(_ key: String) -> String? { self[key] as? String }
}
