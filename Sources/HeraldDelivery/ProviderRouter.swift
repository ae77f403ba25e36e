import Foundation
import HeraldCore
import Synchronization

/// Chooses which providers a delivery round tries, in which order, and keeps what it learns
/// about each one: its circuit breaker, latency, errors, send rate, quotas, and any pause an
/// operator or the provider asked for.
///
/// A round asks for an ``order(now:using:)`` once, then ``acquire(_:now:)`` for each provider
/// in turn until one takes the email; a provider that cannot take an attempt now says why
/// (``Skip``), and that reason goes into the email's history.
public final class ProviderRouter: Sendable {
    public struct Route: Sendable {
        public var provider: any EmailProvider
        public var priority: Int
        /// How long one call may take before its outcome is taken as unknown.
        public var timeout: Duration
        /// The provider's share of traffic under the weighted policy.
        public var weight: Double
        /// A p95 latency above this makes the provider degraded.
        public var slowThreshold: Duration
        /// Sends per second; nil for no limit of Herald's own.
        public var ratePerSecond: Double?
        /// Sends per UTC day or month; a period without a limit is only counted.
        public var quotas: [SendQuota.Period: Int]

        public init(
            provider: any EmailProvider, priority: Int, timeout: Duration, weight: Double = 1,
            slowThreshold: Duration = .seconds(5), ratePerSecond: Double? = nil, quotas: [SendQuota.Period: Int] = [:]
        ) {
            self.provider = provider
            self.priority = priority
            self.timeout = timeout
            self.weight = weight
            self.slowThreshold = slowThreshold
            self.ratePerSecond = ratePerSecond
            self.quotas = quotas
        }

        public var name: String { provider.name }
    }

    /// How a round orders the providers that are not degraded; degraded ones always come
    /// after them, in priority order, except for a probe now and then (see
    /// ``init(routes:breaker:policy:degradedProbeInterval:now:)``).
    public enum Policy: Sendable, Equatable, CustomStringConvertible {
        /// Lowest priority number first.
        case priority
        /// A random order in which each provider comes first in proportion to its weight.
        case weighted
        /// Lowest recent latency (EWMA) first. The provider in front keeps its place until
        /// another is faster by more than `margin` (a share, 0.2 for 20 %), so that traffic does
        /// not flap between providers that are about as fast.
        case latency(margin: Double)

        public var description: String {
            switch self {
            case .priority: "priority"
            case .weighted: "weighted"
            case .latency: "latency"
            }
        }
    }

    /// Why a provider could not take an attempt.
    public enum Skip: Error, Equatable, CustomStringConvertible {
        case paused
        case breakerOpen(until: Date?)
        case throttled(until: Date)
        case rateLimited(until: Date)
        case quotaExhausted(period: String, until: Date?)

        /// When the provider may take an attempt again, where that is known.
        public var until: Date? {
            switch self {
            case .paused: nil
            case .breakerOpen(let until): until
            case .throttled(let until), .rateLimited(let until): until
            case .quotaExhausted(_, let until): until
            }
        }

        public var description: String {
            switch self {
            case .paused: "paused"
            case .breakerOpen(let until): until == nil ? "half_open_probes_busy" : "breaker_open"
            case .throttled: "throttled"
            case .rateLimited: "rate_limited"
            case .quotaExhausted(let period, _): "quota_exhausted_\(period)"
            }
        }
    }

    /// Leave to call a provider once: the breaker's permit and the counted send.
    public struct Lease: Sendable {
        public let route: Route
        let permit: CircuitBreaker.Permit
        let takenAt: Date
        /// The provider's send rate, when it has one: nodes sharing a store draw the send from
        /// the store's bucket at this rate as well.
        public let sendRate: (perSecond: Double, burst: Double)?
    }

    fileprivate struct Health {
        var breaker: CircuitBreaker
        var recent: SlidingWindow
        /// Failed calls in the same window, by error class.
        var failures: [ErrorClass: SlidingWindow] = [:]
        var latency: LatencyTracker
        var sendsLastMinute = SlidingWindow(duration: .seconds(60), bucketCount: 12)
        var paused = false
        var throttledUntil: Date?
        var rate: TokenBucket?
        var quotas: [SendQuota]
        var reported: (limits: ReportedLimits, sentSince: Int)?
        /// Slower than its threshold when last measured; a provider stays degraded until calls
        /// show otherwise, not merely until its slow calls leave the window.
        var degraded = false
        /// When the degraded provider last went in front of a round, or was found slow.
        var lastProbe: Date?
        /// The last changes of state, oldest first, at most ``keptChanges``.
        var changes: [ProviderStatus.Change] = []

        static let keptChanges = 10

        /// What is kept across restarts.
        func record(for name: String) -> ProviderStateRecord {
            var openUntil: Date?
            if case .open(let until) = breaker.state { openUntil = until }
            return ProviderStateRecord(provider: name, paused: paused, breakerOpenUntil: openUntil, throttledUntil: throttledUntil)
        }
    }

    fileprivate struct State {
        var health: [String: Health]
        /// The provider in front under the latency policy.
        var latencyLeader: String?
    }

    /// In priority order; ties keep their configuration order.
    public let routes: [Route]
    public let policy: Policy
    public let breakerConfiguration: CircuitBreaker.Configuration
    public let degradedProbeInterval: Duration
    private let state: Mutex<State>

    /// A degraded provider gets one round in front, as a probe, every `degradedProbeInterval`:
    /// its latency is measured again, and it is healthy as soon as it is fast again.
    public init(
        routes: [Route], breaker: CircuitBreaker.Configuration, policy: Policy = .priority,
        degradedProbeInterval: Duration = .seconds(5), now: Date = Date()
    ) {
        self.routes = routes.enumerated().sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        self.policy = policy
        self.breakerConfiguration = breaker
        self.degradedProbeInterval = degradedProbeInterval
        let health = routes.map { route in
            (
                route.name,
                Health(
                    breaker: CircuitBreaker(configuration: breaker), recent: SlidingWindow(duration: breaker.window),
                    latency: LatencyTracker(window: breaker.window), rate: route.ratePerSecond.map { TokenBucket(ratePerSecond: $0) },
                    quotas: SendQuota.Period.allCases.map { SendQuota(period: $0, limit: route.quotas[$0], now: now) })
            )
        }
        self.state = Mutex(State(health: Dictionary(uniqueKeysWithValues: health)))
    }

    // MARK: Choosing

    /// The providers in the order a round should try them.
    public func order(now: Date, using generator: inout some RandomNumberGenerator) -> [Route] {
        state.withLock { state in
            var degraded: Set<String> = []
            var probe: Route?
            for route in routes where state.health[route.name]!.updateDegraded(slowerThan: route.slowThreshold, at: now) {
                degraded.insert(route.name)
                if probe == nil, let lastProbe = state.health[route.name]!.lastProbe, now >= lastProbe.adding(degradedProbeInterval) {
                    probe = route
                    state.health[route.name]!.lastProbe = now
                }
            }
            let healthy = routes.filter { !degraded.contains($0.name) }
            let ordered: [Route]
            switch policy {
            case .priority:
                ordered = healthy
            case .weighted:
                ordered = Self.weightedOrder(healthy, using: &generator)
            case .latency(let margin):
                ordered = Self.latencyOrder(healthy, margin: margin, state: &state, now: now)
            }
            let slow = routes.filter { degraded.contains($0.name) && $0.name != probe?.name }
            return (probe.map { [$0] } ?? []) + ordered + slow
        }
    }

    /// Asks leave to call `route` now, counting the send against its rate and quotas.
    public func acquire(_ route: Route, now: Date) -> Result<Lease, Skip> {
        state.withLock { state in
            guard var health = state.health[route.name] else { return .failure(.paused) }
            defer { state.health[route.name] = health }
            if health.paused { return .failure(.paused) }
            if let until = health.throttledUntil, until > now { return .failure(.throttled(until: until)) }
            if let exhausted = health.exhaustedQuota(at: now) { return .failure(exhausted) }
            if let nextToken = health.rate?.nextTokenAt(now), nextToken > now { return .failure(.rateLimited(until: nextToken)) }
            guard let permit = health.breaker.acquire(now: now) else {
                if case .open(let until) = health.breaker.state { return .failure(.breakerOpen(until: until)) }
                return .failure(.breakerOpen(until: nil))
            }
            _ = health.rate?.take(at: now)
            for index in health.quotas.indices { _ = health.quotas[index].take(at: now) }
            if health.reported != nil { health.reported!.sentSince += 1 }
            return .success(
                Lease(route: route, permit: permit, takenAt: now, sendRate: health.rate.map { ($0.ratePerSecond, $0.burst) }))
        }
    }

    /// Gives back leave for a call that never happened.
    public func release(_ lease: Lease) {
        state.withLock { state in
            state.health[lease.route.name]?.breaker.release(lease.permit)
            state.health[lease.route.name]?.rate?.giveBack()
            state.health[lease.route.name]?.giveBackSend(takenAt: lease.takenAt)
        }
    }

    // MARK: Learning

    /// Learns from a call's outcome. Returns the provider's state to keep when it changed in a
    /// way that must survive a restart (its breaker opened or closed, it asked for a pause).
    public func record(_ lease: Lease, failure: ProviderFailure?, latency: Duration, now: Date) -> ProviderStateRecord? {
        state.withLock { state in
            let name = lease.route.name
            guard var health = state.health[name] else { return nil }
            let before = health.record(for: name)
            let unhealthy = failure?.errorClass.countsAgainstProvider ?? false
            health.recent.record(failed: failure != nil, latency: latency, at: now)
            if let errorClass = failure?.errorClass {
                health.failures[errorClass, default: SlidingWindow(duration: breakerConfiguration.window)]
                    .record(failed: true, latency: latency, at: now)
            }
            health.latency.record(latency, at: now)
            if failure?.errorClass == .providerFatal {
                health.breaker.trip(now: now)
            } else {
                health.breaker.record(unhealthy ? .failure : .success, latency: latency, permit: lease.permit, now: now)
            }
            if let retryAfter = failure?.retryAfter {
                health.throttledUntil = now.adding(retryAfter)
            }
            if let failure, failure.errorClass != .ambiguous {
                // The provider did not take the email: the send does not count against its quota.
                health.giveBackSend(takenAt: lease.takenAt)
            } else {
                health.sendsLastMinute.record(failed: false, latency: latency, at: now)
            }
            health.noteChange(slowThreshold: lease.route.slowThreshold, at: now)
            state.health[name] = health
            let after = health.record(for: name)
            return after == before ? nil : after
        }
    }

    /// Pauses or resumes a provider by hand; returns its state to keep, or nil for an unknown name.
    public func setPaused(_ paused: Bool, provider name: String, now: Date) -> ProviderStateRecord? {
        state.withLock { state in
            guard state.health[name] != nil, let route = routes.first(where: { $0.name == name }) else { return nil }
            state.health[name]!.paused = paused
            state.health[name]!.noteChange(slowThreshold: route.slowThreshold, at: now)
            return state.health[name]!.record(for: name)
        }
    }

    /// Takes up the provider states kept in the store, by a process before this one or by the
    /// other nodes sharing it: pauses as kept (the store has the last word on them), a breaker
    /// opened or a pause asked for by a provider if it lasts longer than what this process
    /// knows, and the sends counted in the current day and month if more than counted here.
    /// Nothing this process learnt itself is undone.
    public func adopt(_ records: [ProviderStateRecord], sends: [String: [SendQuota.Period: Int]], now: Date) {
        state.withLock { state in
            for record in records {
                guard var health = state.health[record.provider] else { continue }
                let known = health.record(for: record.provider)
                health.paused = record.paused
                if let until = record.throttledUntil, until > known.throttledUntil ?? .distantPast { health.throttledUntil = until }
                if let until = record.breakerOpenUntil, until > now, until > known.breakerOpenUntil ?? .distantPast {
                    health.breaker.restoreOpen(until: until)
                }
                if let route = routes.first(where: { $0.name == record.provider }) {
                    health.noteChange(slowThreshold: route.slowThreshold, at: now)
                }
                state.health[record.provider] = health
            }
            for (name, counts) in sends where state.health[name] != nil {
                for index in state.health[name]!.quotas.indices {
                    let period = state.health[name]!.quotas[index].period
                    state.health[name]!.quotas[index].raise(toAtLeast: counts[period] ?? 0, at: now)
                }
            }
        }
    }

    /// Takes in the limits a provider reported about itself (Amazon SES's quota): its 24-hour
    /// cap and its send rate, when stricter than Herald's own.
    public func update(_ limits: ReportedLimits, provider name: String) {
        state.withLock { state in
            guard var health = state.health[name], let route = routes.first(where: { $0.name == name }) else { return }
            health.reported = (limits, 0)
            let rates = [route.ratePerSecond, limits.maxSendRate].compactMap { $0 }
            if let rate = rates.min(), rate != health.rate?.ratePerSecond {
                health.rate = TokenBucket(ratePerSecond: rate)
            }
            state.health[name] = health
        }
    }

    // MARK: Reporting

    /// Each provider's lasting condition now, as ``statuses(now:)`` reports it, without the
    /// moment's send-rate limit (which refills within a second).
    public func conditions(now: Date) -> [String: ProviderStatus.State] {
        state.withLock { state in
            var conditions: [String: ProviderStatus.State] = [:]
            for route in routes {
                conditions[route.name] = state.health[route.name]!.lastingCondition(slowThreshold: route.slowThreshold, at: now).0
            }
            return conditions
        }
    }

    public func statuses(now: Date) -> [ProviderStatus] {
        state.withLock { state in
            routes.map { route in
                var health = state.health[route.name]!
                health.noteChange(slowThreshold: route.slowThreshold, at: now)
                defer { state.health[route.name] = health }
                let totals = health.recent.totals(at: now)
                let breakerState = health.breaker.state(at: now)
                var openUntil: Date?
                if case .open(let until) = breakerState { openUntil = until }
                let latency = health.latency.summary(at: now)
                var quotas = health.quotas.indices.map { index in
                    let usage = health.quotas[index].usage(at: now)
                    return ProviderStatus.Quota(
                        period: health.quotas[index].period.rawValue, used: usage.used, limit: usage.limit, resetsAt: usage.resetsAt)
                }
                if let (limits, sentSince) = health.reported, let max = limits.maxPer24Hours {
                    quotas.append(.init(period: "rolling_24h", used: limits.sentLast24Hours + sentSince, limit: max, resetsAt: nil))
                }
                let (condition, reason) = health.condition(slowThreshold: route.slowThreshold, at: now)
                var status = ProviderStatus(
                    name: route.name, kind: route.provider.kind, priority: route.priority, weight: route.weight,
                    state: condition, reason: reason, breakerState: breakerState.name, breakerOpenUntil: openUntil,
                    breaker: breakerConfiguration, slowThreshold: route.slowThreshold, latency: latency,
                    recentCalls: totals.calls, recentSuccessRate: totals.successRate,
                    recentFailures: health.failures.compactMapValues { window in
                        let failures = window.totals(at: now).failures
                        return failures > 0 ? failures : nil
                    },
                    sendsLastMinute: health.sendsLastMinute.totals(at: now).calls, ratePerSecond: health.rate?.ratePerSecond,
                    quotas: quotas, throttledUntil: health.throttledUntil.flatMap { $0 > now ? $0 : nil })
                status.latencyHistory = health.latency.history(at: now)
                status.changes = health.changes
                return status
            }
        }
    }

    // MARK: Policies

    private static func weightedOrder(_ routes: [Route], using generator: inout some RandomNumberGenerator) -> [Route] {
        var remaining = routes.filter { $0.weight > 0 }
        var ordered: [Route] = []
        while !remaining.isEmpty {
            let total = remaining.reduce(0) { $0 + $1.weight }
            var pick = Double.random(in: 0..<total, using: &generator)
            let index =
                remaining.firstIndex { route in
                    pick -= route.weight
                    return pick < 0
                } ?? remaining.count - 1
            ordered.append(remaining.remove(at: index))
        }
        return ordered + routes.filter { $0.weight <= 0 }
    }

    private static func latencyOrder(_ routes: [Route], margin: Double, state: inout State, now: Date) -> [Route] {
        // A provider without a measurement yet goes first, so that it gets one.
        func ewma(_ route: Route) -> Double {
            state.health[route.name]!.latency.summary(at: now).ewma?.timeInterval ?? 0
        }
        let byLatency = routes.enumerated().sorted { (ewma($0.element), $0.offset) < (ewma($1.element), $1.offset) }.map(\.element)
        guard let fastest = byLatency.first else { return [] }
        if let leader = byLatency.first(where: { $0.name == state.latencyLeader }), ewma(fastest) >= ewma(leader) * (1 - margin) {
            return [leader] + byLatency.filter { $0.name != leader.name }
        }
        state.latencyLeader = fastest.name
        return byLatency
    }
}

extension ProviderRouter.Health {
    /// Whether the provider is degraded now: its p95 latency is above `threshold`, or it was
    /// and no call since has measured it.
    fileprivate mutating func updateDegraded(slowerThan threshold: Duration, at now: Date) -> Bool {
        if let p95 = latency.summary(at: now).p95 {
            let slow = p95 > threshold
            // The first probe comes an interval after the provider was found slow.
            if slow && !degraded { lastProbe = now }
            degraded = slow
        }
        return degraded
    }

    fileprivate mutating func exhaustedQuota(at now: Date) -> ProviderRouter.Skip? {
        for index in quotas.indices where quotas[index].isExhausted(at: now) {
            return .quotaExhausted(period: quotas[index].period.rawValue, until: quotas[index].usage(at: now).resetsAt)
        }
        if let (limits, sentSince) = reported, let max = limits.maxPer24Hours, limits.sentLast24Hours + sentSince >= max {
            return .quotaExhausted(period: "rolling_24h", until: nil)
        }
        return nil
    }

    fileprivate mutating func giveBackSend(takenAt: Date) {
        for index in quotas.indices { quotas[index].giveBack(takenAt: takenAt) }
        if let sentSince = reported?.sentSince, sentSince > 0 { reported!.sentSince -= 1 }
    }

    /// The state operators see, most severe first, and why: the lasting condition, or throttled
    /// while the send-rate limit is used up.
    fileprivate mutating func condition(slowThreshold: Duration, at now: Date) -> (ProviderStatus.State, String?) {
        let lasting = lastingCondition(slowThreshold: slowThreshold, at: now)
        if [.healthy, .degraded].contains(lasting.0), let rate, rate.nextTokenAt(now) > now {
            return (.throttled, "send rate limit of \(rate.ratePerSecond)/s reached")
        }
        return lasting
    }

    /// Records the lasting condition when it differs from the last one recorded.
    fileprivate mutating func noteChange(slowThreshold: Duration, at now: Date) {
        let (state, reason) = lastingCondition(slowThreshold: slowThreshold, at: now)
        guard state != changes.last?.state ?? .healthy else { return }
        changes.append(ProviderStatus.Change(state: state, reason: reason, at: now))
        if changes.count > Self.keptChanges { changes.removeFirst() }
    }

    /// The condition without a send-rate limit used up for a moment: a rate limit is used up
    /// and refilled many times a second, which is no change of state worth recording.
    fileprivate mutating func lastingCondition(slowThreshold: Duration, at now: Date) -> (ProviderStatus.State, String?) {
        if paused { return (.paused, "paused by an operator") }
        switch breaker.state(at: now) {
        case .open: return (.open, "failure rate reached \(Int(breaker.configuration.failureRateThreshold * 100)) %")
        case .halfOpen: return (.halfOpen, "letting \(breaker.configuration.halfOpenProbes) probe calls through")
        case .closed: break
        }
        if let throttledUntil, throttledUntil > now { return (.throttled, "the provider asked for a pause (Retry-After)") }
        if let skip = exhaustedQuota(at: now) { return (.quotaExhausted, "\(skip)") }
        if updateDegraded(slowerThan: slowThreshold, at: now) {
            guard let p95 = latency.summary(at: now).p95 else {
                return (.degraded, "slower than \(slowThreshold.milliseconds) ms when last measured; waiting for a probe")
            }
            return (.degraded, "p95 latency \(p95.milliseconds) ms is above the slow threshold of \(slowThreshold.milliseconds) ms")
        }
        return (.healthy, nil)
    }
}
