import Foundation
import HeraldCore
import Hummingbird
import Logging

/// Liveness, readiness, the providers' health, and the sandbox controls for chaos drills.
public struct SystemController<Context: AuthenticatedRequestContext>: Sendable {
    /// What `/readyz` watches of the node's dispatcher, which runs in another module.
    public struct DispatchWatch: Sendable {
        /// How long ago the dispatcher's last lease was answered.
        public var timeSinceLastLease: @Sendable () -> Duration
        /// How long due emails may wait, with no lease answered, before the node is not ready.
        public var stalledAfter: Duration

        public init(timeSinceLastLease: @escaping @Sendable () -> Duration, stalledAfter: Duration) {
            self.timeSinceLastLease = timeSinceLastLease
            self.stalledAfter = stalledAfter
        }
    }

    let store: any EmailStore & ProviderEventStore
    let state: ServiceState
    let providers: any ProviderAdministration
    let clock: any WallClock
    /// Nil on a node that does not deliver.
    let dispatch: DispatchWatch?

    public init(
        store: any EmailStore & ProviderEventStore, state: ServiceState, providers: any ProviderAdministration, clock: any WallClock,
        dispatch: DispatchWatch?
    ) {
        self.store = store
        self.state = state
        self.providers = providers
        self.clock = clock
        self.dispatch = dispatch
    }

    /// `/healthz` and `/readyz`, which need no key.
    public func addHealthRoutes(to router: some RouterMethods<Context>) {
        router.get("healthz") { _, _ in try JSONResponse.make(["status": "ok"]) }
        router.get("readyz", use: ready)
    }

    /// The providers' routes, on the authenticated `/v1` group.
    public func addRoutes(to api: some RouterMethods<Context>) {
        api.get("providers", use: listProviders)
        api.put("admin/providers/:name/sandbox", use: updateSandbox)
        api.post("admin/providers/:name/pause") { request, context in
            try await setPaused(true, context: context)
        }
        api.post("admin/providers/:name/resume") { request, context in
            try await setPaused(false, context: context)
        }
    }

    /// An operator drains a provider (no new attempts; those in flight finish) or returns it.
    func setPaused(_ paused: Bool, context: Context) async throws -> Response {
        _ = try context.key(withScope: .operator)
        let status = try await providers.setPaused(paused, provider: try context.parameters.require("name"))
        return try JSONResponse.make(try await body(of: [status])[0])
    }

    @Sendable func ready(request: Request, context: Context) async throws -> Response {
        guard !state.isDraining else {
            return try JSONResponse.make(["status": "draining"], status: .serviceUnavailable)
        }
        do {
            try await store.checkWritable()
        } catch {
            context.logger.error("store is not writable", metadata: ["error": "\(error)"])
            return try JSONResponse.make(["status": "store_unavailable"], status: .serviceUnavailable)
        }
        if try await dispatcherIsStalled() {
            context.logger.error("the dispatcher has leased nothing while due emails wait")
            return try JSONResponse.make(["status": "dispatcher_stalled"], status: .serviceUnavailable)
        }
        return try JSONResponse.make(["status": "ready"])
    }

    /// Whether due emails have waited longer than the bound while the dispatcher's leases went
    /// unanswered for as long. The queue is read only when the leases have stopped.
    private func dispatcherIsStalled() async throws -> Bool {
        guard let dispatch, dispatch.timeSinceLastLease() > dispatch.stalledAfter else { return false }
        let now = clock.now
        guard let oldestDue = try await store.queueStatistics(now: now).oldestDueAt else { return false }
        return now.timeIntervalSince(oldestDue) > dispatch.stalledAfter.timeInterval
    }

    @Sendable func listProviders(request: Request, context: Context) async throws -> Response {
        _ = try context.key(withScope: .read)
        return try JSONResponse.make(ProviderListBody(data: try await body(of: providers.statuses())))
    }

    /// The providers as the API shows them, with their events of the last 24 hours.
    private func body(of statuses: [ProviderStatus]) async throws -> [ProviderBody] {
        let statistics = try await store.eventStatistics(since: clock.now.addingTimeInterval(-ProviderBody.Events.window))
        let receivers = providers.eventReceivers
        return statuses.map { status in
            let endpoint = receivers[status.name] == nil ? nil : "/events/\(status.name)"
            return ProviderBody(
                status, events: ProviderBody.Events(statistics[status.name] ?? ProviderEventStatistics(), receivesAt: endpoint))
        }
    }

    @Sendable func updateSandbox(request: Request, context: Context) async throws -> Response {
        _ = try context.key(withScope: .operator)
        let name = try context.parameters.require("name")
        let body = try await request.jsonBody(of: "settings", upTo: 64 * 1024)
        let behavior: SandboxBehavior
        do {
            behavior = try JSONDecoder().decode(SandboxBehavior.self, from: body)
        } catch let error as DecodingError {
            guard let context = error.fieldContext else {
                throw APIError(.badRequest, code: "malformed_json", message: "the request body is not a JSON object of sandbox settings")
            }
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.validationFailed([.init(field: field, code: "invalid_value", message: context.debugDescription)])
        }
        let problems = behavior.problems
        guard problems.isEmpty else {
            throw APIError.validationFailed(problems.map { .init(field: $0.field, code: "invalid_value", message: $0.message) })
        }
        try providers.updateSandbox(named: name, to: behavior)
        return try JSONResponse.make(behavior)
    }
}

struct ProviderListBody: Encodable {
    let data: [ProviderBody]
}

/// A provider as `GET /v1/providers` shows it; times in milliseconds, rates as shares.
struct ProviderBody: Encodable {
    struct Breaker: Encodable {
        let state: String
        let openUntil: Date?
        let failureRate: Double
        let minimumCalls: Int
        let windowSeconds: Double
        let openSeconds: Double
        let halfOpenProbes: Int

        enum CodingKeys: String, CodingKey {
            case state
            case openUntil = "open_until"
            case failureRate = "failure_rate"
            case minimumCalls = "minimum_calls"
            case windowSeconds = "window_seconds"
            case openSeconds = "open_seconds"
            case halfOpenProbes = "half_open_probes"
        }
    }

    struct Latency: Encodable {
        /// One slot of the window, for a chart.
        struct Point: Encodable {
            let start: Date
            let p50: Int64?
            let p95: Int64?
            let samples: Int

            enum CodingKeys: String, CodingKey {
                case start, samples
                case p50 = "p50_ms"
                case p95 = "p95_ms"
            }
        }

        let p50: Int64?
        let p95: Int64?
        let ewma: Int64?
        let samples: Int
        let history: [Point]

        enum CodingKeys: String, CodingKey {
            case samples, history
            case p50 = "p50_ms"
            case p95 = "p95_ms"
            case ewma = "ewma_ms"
        }
    }

    struct StateChange: Encodable {
        let state: ProviderStatus.State
        let reason: String?
        let at: Date
    }

    /// The provider's events: where they come in, and how many did in the last 24 hours
    /// (counted by the hour), so that a webhook that went silent or fails its checks shows.
    struct Events: Encodable {
        static let window: TimeInterval = 24 * 3600

        let endpoint: String?
        let received: Int
        let refused: Int
        let lastEventAt: Date?

        init(_ statistics: ProviderEventStatistics, receivesAt endpoint: String?) {
            self.endpoint = endpoint
            self.received = statistics.events
            self.refused = statistics.refusedRequests
            self.lastEventAt = statistics.lastEventAt
        }

        enum CodingKeys: String, CodingKey {
            case endpoint
            case received = "received_24h"
            case refused = "refused_24h"
            case lastEventAt = "last_event_at"
        }
    }

    struct Quota: Encodable {
        let used: Int
        let limit: Int?
        let resetsAt: Date?

        enum CodingKeys: String, CodingKey {
            case used, limit
            case resetsAt = "resets_at"
        }
    }

    let name: String
    let type: String
    let priority: Int
    let weight: Double
    let state: ProviderStatus.State
    let reason: String?
    let breaker: Breaker
    let slowMilliseconds: Int64
    let latency: Latency
    let recentCalls: Int
    let successRate: Double?
    /// Failed calls in the breaker window by error class.
    let failures: [String: Int]
    let sendsLastMinute: Int
    let ratePerSecond: Double?
    /// By period: `daily`, `monthly`, and `rolling_24h` for a quota the provider reports.
    let quota: [String: Quota]
    let throttledUntil: Date?
    let events: Events
    let stateChanges: [StateChange]
    let sandbox: SandboxBehavior?

    init(_ status: ProviderStatus, events: Events) {
        self.events = events
        name = status.name
        type = status.kind
        priority = status.priority
        weight = status.weight
        state = status.state
        reason = status.reason
        breaker = Breaker(
            state: status.breakerState, openUntil: status.breakerOpenUntil, failureRate: status.breaker.failureRateThreshold,
            minimumCalls: status.breaker.minimumCalls, windowSeconds: status.breaker.window.timeInterval,
            openSeconds: status.breaker.openDuration.timeInterval, halfOpenProbes: status.breaker.halfOpenProbes)
        slowMilliseconds = status.slowThreshold.milliseconds
        latency = Latency(
            p50: status.latency.p50?.milliseconds, p95: status.latency.p95?.milliseconds, ewma: status.latency.ewma?.milliseconds,
            samples: status.latency.samples,
            history: status.latencyHistory.map {
                Latency.Point(start: $0.start, p50: $0.p50?.milliseconds, p95: $0.p95?.milliseconds, samples: $0.samples)
            })
        recentCalls = status.recentCalls
        successRate = status.recentSuccessRate
        failures = Dictionary(uniqueKeysWithValues: status.recentFailures.map { ($0.key.rawValue, $0.value) })
        sendsLastMinute = status.sendsLastMinute
        ratePerSecond = status.ratePerSecond
        let periodNames = ["day": "daily", "month": "monthly"]
        quota = Dictionary(
            uniqueKeysWithValues: status.quotas.map {
                (periodNames[$0.period] ?? $0.period, Quota(used: $0.used, limit: $0.limit, resetsAt: $0.resetsAt))
            })
        throttledUntil = status.throttledUntil
        stateChanges = status.changes.map { StateChange(state: $0.state, reason: $0.reason, at: $0.at) }
        sandbox = status.sandbox
    }

    enum CodingKeys: String, CodingKey {
        case name, type, priority, weight, state, reason, breaker, latency, quota, failures, events, sandbox
        case stateChanges = "state_changes"
        case slowMilliseconds = "slow_ms"
        case recentCalls = "recent_calls"
        case successRate = "success_rate"
        case sendsLastMinute = "sends_last_minute"
        case ratePerSecond = "rate_per_second"
        case throttledUntil = "throttled_until"
    }
}

extension DecodingError {
    /// The context of an error about one field's value; nil when the body as a whole is wrong.
    fileprivate var fieldContext: Context? {
        switch self {
        case .typeMismatch(_, let context), .dataCorrupted(let context), .valueNotFound(_, let context):
            context.codingPath.isEmpty ? nil : context
        case .keyNotFound:
            nil
        @unknown default:
            nil
        }
    }
}
