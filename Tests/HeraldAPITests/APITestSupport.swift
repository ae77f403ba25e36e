import AsyncHTTPClient
import Foundation
import HeraldAPI
import HeraldCore
import HeraldDelivery
import HeraldProviders
import HeraldStoreSQLite
import HeraldTesting
import HeraldWebhooks
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import HeraldServer

/// An application wired as `herald serve` wires it, on a temporary SQLite store, with a
/// sandbox provider and a file provider.
struct APIHarness {
    let store: SQLiteEmailStore
    /// The store's file, for tests that damage it behind the store's back.
    let databasePath: String
    let state: ServiceState
    let providers: ProviderRegistry
    let events: ProviderEventIngest
    let clock: ManualClock

    /// The operator key of the running harness, which the request helpers below send.
    @TaskLocal static var apiKey: String?

    /// Makes a key for a tenant and scope, to send with `as:` on the helpers.
    func key(tenant: String = APIKey.defaultTenant, scope: APIKey.Scope, ratePerSecond: Double? = nil) async throws -> String {
        try await APIKeys.create(tenant: tenant, scope: scope, ratePerSecond: ratePerSecond, in: store, now: clock.now).secret
    }

    static func run(
        maxBodyBytes: Int = 64 * 1024, logger: Logger = Logger(label: "test"),
        configure: (inout HeraldConfiguration) -> Void = { _ in },
        dispatchWatch: SystemController<HeraldRequestContext>.DispatchWatch? = nil,
        _ body: @escaping @Sendable (APIHarness, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock(Date())
            let databasePath = directory.appendingPathComponent("herald.db").path
            let store = try SQLiteEmailStore.open(path: databasePath, now: clock.now)
            var configuration = HeraldConfiguration()
            configuration.http.maxBodyBytes = maxBodyBytes
            configuration.providers = [
                .init(name: "sandbox", priority: 1, timeout: .seconds(5), kind: .sandbox(.init())),
                .init(
                    name: "files", priority: 2, timeout: .seconds(5), kind: .file(directory: directory.appendingPathComponent("out").path)),
                // Never called by these tests; it is here for its provider options.
                .init(
                    name: "mail", priority: 3, timeout: .seconds(5),
                    kind: .ses(.init(region: "us-east-1", credentials: .init(accessKeyID: "unused", secretAccessKey: "unused")))
                ),
            ]
            configure(&configuration)
            let metrics = HeraldServer.makeMetricsFactory()
            let events = ProviderEventIngest(
                store: store, policy: configuration.eventSuppression, clock: clock, metricsFactory: metrics, logger: logger)
            let providers = try ProviderRegistry(
                configuration: configuration, store: store, clock: clock, httpClient: .shared, events: events, logger: logger)
            let harness = APIHarness(
                store: store, databasePath: databasePath, state: ServiceState(), providers: providers, events: events, clock: clock)
            let application = try HeraldServer.makeApplication(
                configuration: configuration, store: store, providers: providers, events: events, webhooks: WebhookKeys.forTests,
                state: harness.state, clock: clock,
                metrics: metrics, services: [], dispatchWatch: dispatchWatch, onAccepted: {},
                logger: logger
            )
            let operatorKey = try await harness.key(scope: .operator)
            try await $apiKey.withValue(operatorKey) {
                try await application.test(.router) { client in try await body(harness, client) }
            }
        }
    }

    /// Drives an accepted email to `failed`, as a dispatcher would after a permanent rejection.
    func fail(_ id: EmailID) async throws {
        let leased = try await store.leaseDueEmails(limit: 100, owner: "test", now: clock.now, duration: .seconds(60))
        let lease = try #require(leased.first { $0.id == id })
        try await store.record(
            DeliveryProgress(
                emailID: id, leaseToken: lease.leaseToken, finishedAttempt: nil, next: .failed(reason: "permanent:x"), at: clock.now)
        )
    }
}

extension TestClientProtocol {
    /// The helpers authenticate with `key`, by default the harness's admin key.
    func post(_ uri: String, json: String, contentType: String = "application/json", as key: String? = APIHarness.apiKey) async throws
        -> TestResponse
    {
        try await execute(
            uri: uri, method: .post, headers: Self.headers(key, [.contentType: contentType]), body: ByteBuffer(string: json))
    }

    func put(_ uri: String, json: String, as key: String? = APIHarness.apiKey) async throws -> TestResponse {
        try await execute(
            uri: uri, method: .put, headers: Self.headers(key, [.contentType: "application/json"]), body: ByteBuffer(string: json))
    }

    func get(_ uri: String, as key: String? = APIHarness.apiKey) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: Self.headers(key))
    }

    func delete(_ uri: String, as key: String? = APIHarness.apiKey) async throws -> TestResponse {
        try await execute(uri: uri, method: .delete, headers: Self.headers(key))
    }

    private static func headers(_ key: String?, _ fields: HTTPFields = [:]) -> HTTPFields {
        var fields = fields
        if let key { fields[.authorization] = "Bearer \(key)" }
        return fields
    }

    /// Sends a valid email and returns its id.
    func accept(_ json: String = APIFixtures.validEmail) async throws -> EmailID {
        let response = try await post("/v1/emails", json: json)
        #expect(response.status == .accepted)
        let id = try #require(response.json["id"] as? String)
        return try #require(EmailID(id))
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// The `error` object of an error answer.
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }

    /// `field: code` for each detail of an error answer.
    var problems: Set<String> {
        Set(((error["details"] as? [[String: Any]]) ?? []).map { "\($0["field"] as? String ?? ""): \($0["code"] as? String ?? "")" })
    }
}

enum APIFixtures {
    static let validEmail = #"{"from":"Ada Lovelace <ada@example.org>","to":["bob@example.com"],"subject":"Hi","text":"Hello"}"#
}

extension WebhookKeys {
    /// A random key, and private targets allowed, as a test's receiver runs on loopback.
    static var forTests: WebhookKeys {
        WebhookKeys(sealer: SecretSealer(key: (0..<32).map { _ in UInt8.random(in: .min ... .max) }), allowPrivateTargets: true)
    }
}
