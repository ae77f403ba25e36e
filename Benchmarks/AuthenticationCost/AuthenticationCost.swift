// What authentication and per-key rate limiting cost on `POST /v1/emails`: the same router,
// store and email, once behind Herald's API key middleware and once behind a stand-in that
// sets the key without checking anything, in alternating rounds so that both see the same
// machine. Requests go through the router in process, without sockets and HTTP parsing, which
// makes the measured share of the middleware larger than over a network, not smaller.
//
// Run by scripts/bench in release mode; prints one `HERALD_RESULT` line. `herald-auth-cost
// middleware` times the middleware alone, for a profiler.
import Foundation
import HeraldAPI
import HeraldCore
import HeraldStoreSQLite
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import NIOEmbedded

@main
struct AuthenticationCost {
    /// Enough ABBA rounds that the paired differences pin the cost down; HERALD_AUTH_ROUNDS
    /// sets another number.
    static let rounds = ProcessInfo.processInfo.environment["HERALD_AUTH_ROUNDS"].flatMap { Int($0) }.map { max(2, min($0, 200)) } ?? 16
    static let roundDuration: Duration = .seconds(3)
    static let concurrency = 64
    static let email = #"{"from": "Ada <ada@example.org>", "to": ["bob@example.com"], "subject": "Hello", "text": "Hello, Bob."}"#

    static func main() async throws {
        if CommandLine.arguments.dropFirst().first == "middleware" {
            // The middleware alone, for a profiler.
            let middleware = try await middlewareNanoseconds()
            print("HERALD_RESULT middleware_ns=\(Int(middleware.authenticated)) preset_ns=\(Int(middleware.preset))")
            return
        }
        var authenticated: [Double] = []
        var preset: [Double] = []
        for round in 0..<rounds {
            // Each measurement on a new database, in ABBA order, so that neither variant gains
            // from a warmer or a smaller store.
            for authenticating in round.isMultiple(of: 2) ? [true, false] : [false, true] {
                let rate = try await withStore { store in
                    // A rate no round reaches: the bucket is taken from and refilled on every
                    // request as usual, and never refuses one.
                    let (key, secret) = try await APIKeys.create(
                        tenant: "bench", scope: .send, ratePerSecond: APIKey.rateRange.upperBound, in: store, now: Date())
                    let application = application(store, authentication: authenticating ? .apiKeys : .preset(key))
                    return try await requestsPerSecond(application, secret: secret)
                }
                if authenticating { authenticated.append(rate) } else { preset.append(rate) }
            }
        }
        let with = median(authenticated)
        let without = median(preset)
        let middleware = try await middlewareNanoseconds()
        print(
            "HERALD_RESULT with_auth=\(Int(with)) without_auth=\(Int(without)) loss_percent=\(String(format: "%.2f", (1 - with / without) * 100))"
                + " rounds=\(rounds) round_seconds=\(roundDuration.components.seconds) concurrency=\(concurrency)"
                + " with_each=\(authenticated.map { String(Int($0)) }.joined(separator: ","))"
                + " without_each=\(preset.map { String(Int($0)) }.joined(separator: ","))"
                + " middleware_ns=\(Int(middleware.authenticated)) preset_ns=\(Int(middleware.preset))"
        )
    }

    static func withStore<Result: Sendable>(_ body: @Sendable (SQLiteEmailStore) async throws -> Result) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-auth-cost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(try SQLiteEmailStore.open(path: directory.appendingPathComponent("herald.db").path))
    }

    /// The time one request spends in the key middleware and in the stand-in, with a handler
    /// that does nothing: what authentication and rate limiting add to every request.
    static func middlewareNanoseconds() async throws -> (authenticated: Double, preset: Double) {
        try await withStore { store in
            let (key, secret) = try await APIKeys.create(
                tenant: "bench", scope: .send, ratePerSecond: APIKey.rateRange.upperBound, in: store, now: Date())
            let keys = APIKeyMiddleware<HeraldRequestContext>(
                store: store, defaultRatePerSecond: APIKey.rateRange.upperBound, clock: SystemWallClock())
            let standIn = PresetKey(key: key)
            let calls = 1_000_000
            func time(_ middleware: some RouterMiddleware<HeraldRequestContext>) async throws -> Double {
                let request = Request(
                    head: .init(
                        method: .post, scheme: "http", authority: "localhost", path: "/v1/emails",
                        headerFields: [.authorization: "Bearer \(secret)"]),
                    body: .init(buffer: .init()))
                let context = HeraldRequestContext(source: .init(channel: EmbeddedChannel(), logger: .init(label: "bench")))
                let start = ContinuousClock.now
                for _ in 0..<calls {
                    _ = try await middleware.handle(request, context: context) { _, _ in Response(status: .accepted) }
                }
                let elapsed = ContinuousClock.now - start
                return (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(calls)
            }
            return (try await time(keys), try await time(standIn))
        }
    }

    enum Authentication {
        case apiKeys
        case preset(APIKey)
    }

    static func application(_ store: SQLiteEmailStore, authentication: Authentication) -> some ApplicationProtocol {
        let router = Router(context: HeraldRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        let api =
            switch authentication {
            case .apiKeys:
                router.authenticatedAPI(
                    APIKeyMiddleware(store: store, defaultRatePerSecond: APIKey.rateRange.upperBound, clock: SystemWallClock()))
            case .preset(let key): router.group("v1").add(middleware: PresetKey(key: key))
            }
        EmailsController(
            store: store, providers: NoProviders(), clock: SystemWallClock(), state: ServiceState(), maxBodyBytes: 1 << 20,
            metricsFactory: NOOPMetricsHandler.instance, onAccepted: {}
        ).addRoutes(to: api)
        return Application(router: router)
    }

    /// Sends the email from `concurrency` tasks for one round; every answer must be a 202.
    static func requestsPerSecond(_ application: some ApplicationProtocol, secret: String) async throws -> Double {
        try await application.test(.router) { client in
            let start = ContinuousClock.now
            let deadline = start + roundDuration
            let sent = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        var count = 0
                        while ContinuousClock.now < deadline {
                            let response = try await client.execute(
                                uri: "/v1/emails", method: .post,
                                headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"],
                                body: ByteBuffer(string: email))
                            guard response.status == .accepted else { throw BenchmarkFailure(status: response.status.code) }
                            count += 1
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = ContinuousClock.now - start
            return Double(sent) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
    }

    static func median(_ values: [Double]) -> Double {
        values.sorted()[values.count / 2]
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let status: Int
    var description: String { "a request was answered \(status), not 202" }
}

/// The baseline: the key is known without looking at the request.
struct PresetKey: RouterMiddleware {
    let key: APIKey

    func handle(
        _ request: Request, context: HeraldRequestContext, next: (Request, HeraldRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.apiKey = key
        return try await next(request, context)
    }
}

/// The email has no provider options, so no provider is ever asked about.
struct NoProviders: ProviderAdministration {
    func statuses() -> [ProviderStatus] { [] }
    func supportedOptions(forProvider nameOrType: String) -> Set<String>? { nil }
    func updateSandbox(named name: String, to behavior: SandboxBehavior) throws(APIError) {}
    func setPaused(_ paused: Bool, provider name: String) async throws -> ProviderStatus {
        throw APIError.notFound("provider \(name)")
    }
    var eventReceivers: [String: any ProviderEventReceiver] { [:] }
}
