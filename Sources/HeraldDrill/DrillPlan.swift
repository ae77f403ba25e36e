import HeraldCore

/// A drill with every name and threshold settled: what to send, what to change and when.
/// Built from the configuration and one reading of `GET /v1/providers`, without I/O.
public struct DrillPlan: Sendable, Equatable {
    /// A change to the primary's sandbox, at an offset from the stream's start.
    public struct Step: Sendable, Equatable {
        public var offset: Duration
        public var behavior: SandboxBehavior
        public var label: String

        public init(offset: Duration, behavior: SandboxBehavior, label: String) {
            self.offset = offset
            self.behavior = behavior
            self.label = label
        }
    }

    /// The settings of the primary that the checks depend on; nil when neither the server nor
    /// the configuration gave one and the scenario does not need it.
    public struct Thresholds: Sendable, Equatable {
        public var slowMilliseconds: Int?
        /// The daily quota minus what the primary had used when the drill began.
        public var quotaRemaining: Int?
        public var openSeconds: Double?
        public var halfOpenProbes: Int?
        public var retryAfterSeconds: Int

        public init(
            slowMilliseconds: Int? = nil, quotaRemaining: Int? = nil, openSeconds: Double? = nil, halfOpenProbes: Int? = nil,
            retryAfterSeconds: Int = 3
        ) {
            self.slowMilliseconds = slowMilliseconds
            self.quotaRemaining = quotaRemaining
            self.openSeconds = openSeconds
            self.halfOpenProbes = halfOpenProbes
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    public var scenario: Scenario
    public var primary: String
    public var secondary: String
    /// Every provider, in priority order: the timeline's columns.
    public var providers: [String]
    public var rate: Int
    public var streamDuration: Duration
    public var steps: [Step]
    public var thresholds: Thresholds

    public init(
        scenario: Scenario, primary: String, secondary: String, providers: [String], rate: Int, streamDuration: Duration,
        steps: [Step], thresholds: Thresholds
    ) {
        self.scenario = scenario
        self.primary = primary
        self.secondary = secondary
        self.providers = providers
        self.rate = rate
        self.streamDuration = streamDuration
        self.steps = steps
        self.thresholds = thresholds
    }

    /// Plans `scenario` against providers as `GET /v1/providers` listed them.
    public init(scenario: Scenario, configuration: DrillConfiguration, providers listed: [ProviderSnapshot]) throws(DrillError) {
        guard (1...10_000).contains(configuration.rate) else {
            throw DrillError(code: "invalid_rate", message: "the rate must be from 1 to 10000 emails a second")
        }
        guard configuration.flapPeriod >= .milliseconds(100) else {
            throw DrillError(code: "invalid_flap_period", message: "each spell of the flapping scenario must last 0.1 s or more")
        }
        let ordered = listed.enumerated().sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        guard let primaryName = configuration.primary ?? ordered.first?.name,
            let primary = ordered.first(where: { $0.name == primaryName })
        else {
            throw DrillError(code: "unknown_provider", message: "the server has no provider \(configuration.primary ?? "at all")")
        }
        guard primary.kind == nil || primary.kind == "sandbox" else {
            throw DrillError(
                code: "not_a_sandbox",
                message:
                    "the primary \(primary.name) is a \(primary.kind ?? "") provider; a drill changes it at run time, so it must be a sandbox"
            )
        }
        guard let secondary = configuration.secondary ?? ordered.first(where: { $0.name != primary.name })?.name,
            secondary != primary.name, ordered.contains(where: { $0.name == secondary })
        else {
            let problem =
                configuration.secondary.map { "\($0) is not another provider of the server" } ?? "the server has only \(primary.name)"
            throw DrillError(code: "unknown_provider", message: "a drill needs a second provider to take the traffic: \(problem)")
        }

        let quota = primary.dailyQuota
        let thresholds = Thresholds(
            slowMilliseconds: try Self.bounded(configuration.slowMilliseconds ?? primary.slowMilliseconds, "slow_ms", 1...3_600_000),
            quotaRemaining: try Self.bounded(configuration.dailyQuota ?? quota?.limit, "quota.daily.limit", 0...Int(Int32.max)).map {
                max(0, $0 - min(max(0, quota?.used ?? 0), $0))
            },
            openSeconds: try Self.bounded(configuration.openSeconds ?? primary.openSeconds, "breaker.open_seconds", 0.01...86_400),
            halfOpenProbes: try Self.bounded(
                configuration.halfOpenProbes ?? primary.halfOpenProbes, "breaker.half_open_probes", 1...1000),
            retryAfterSeconds: try Self.bounded(configuration.retryAfterSeconds, "retry_after_seconds", 0...86_400)!
        )
        let warmup = configuration.warmup
        let failing = SandboxBehavior(failureRate: 1, failureClass: .transient)
        let name = primary.name
        var steps: [Step] = []
        let streamDuration: Duration
        switch scenario {
        case .outage:
            steps = [Step(offset: warmup, behavior: failing, label: "outage: \(name) fails every call")]
            streamDuration = warmup + (configuration.duration ?? .seconds(6))
        case .busyOutage:
            // Enough healthy calls that the window's failure rate stays under any threshold for
            // seconds after the outage starts: only a trip on failures in a row leaves in time.
            let busy = max(warmup, Self.busyWarmup)
            steps = [Step(offset: busy, behavior: failing, label: "busy outage: \(name) fails every call")]
            streamDuration = busy + (configuration.duration ?? .seconds(6))
        case .slowdown:
            let slow = try Self.require(thresholds.slowMilliseconds, "slow_ms", flag: "--slow-ms", of: name)
            steps = [
                Step(
                    offset: warmup, behavior: SandboxBehavior(latencyMilliseconds: 3 * slow),
                    label: "slowdown: \(name) takes \(3 * slow) ms")
            ]
            // Long enough to judge three whole seconds from 5 s after the change.
            streamDuration = warmup + (configuration.duration ?? .seconds(9))
        case .flapping:
            _ = try Self.require(thresholds.halfOpenProbes, "breaker.half_open_probes", flag: "--half-open-probes", of: name)
            let duration = configuration.duration ?? .seconds(10)
            var offset = Duration.zero
            while offset < duration {
                let fails = steps.count.isMultiple(of: 2)
                steps.append(
                    Step(
                        offset: warmup + offset, behavior: fails ? failing : SandboxBehavior(),
                        label: "flapping: \(name) \(fails ? "fails" : "heals")")
                )
                offset += configuration.flapPeriod
            }
            streamDuration = warmup + duration
        case .throttle:
            let seconds = configuration.retryAfterSeconds
            steps = [
                Step(
                    offset: warmup, behavior: SandboxBehavior(failureRate: 1, failureClass: .transient, retryAfterSeconds: seconds),
                    label: "throttle: \(name) answers Retry-After \(seconds) s"
                )
            ]
            streamDuration = warmup + (configuration.duration ?? .seconds(seconds + 4))
        case .quota:
            let remaining = try Self.require(thresholds.quotaRemaining, "quota.daily.limit", flag: "--daily-quota", of: name)
            // Long enough to use up the remaining quota and then some, with nothing broken.
            let seconds = (remaining + configuration.rate - 1) / configuration.rate + 3
            streamDuration = configuration.duration ?? .seconds(seconds)
        case .recovery:
            let open = try Self.require(thresholds.openSeconds, "breaker.open_seconds", flag: "--open-seconds", of: name)
            _ = try Self.require(thresholds.halfOpenProbes, "breaker.half_open_probes", flag: "--half-open-probes", of: name)
            let outage = configuration.duration ?? .seconds(4)
            steps = [
                Step(offset: warmup, behavior: failing, label: "recovery: \(name) fails every call"),
                Step(offset: warmup + outage, behavior: SandboxBehavior(), label: "recovery: \(name) heals"),
            ]
            // Past the check's deadline (the open time + 2 s after healing), so it can see the return.
            streamDuration = warmup + outage + .seconds(open) + .seconds(3)
        }
        self.init(
            scenario: scenario, primary: name, secondary: secondary, providers: ordered.map(\.name), rate: configuration.rate,
            streamDuration: streamDuration, steps: steps, thresholds: thresholds
        )
    }

    /// The healthy traffic before a busy outage, at the least.
    static let busyWarmup = Duration.seconds(10)

    /// A threshold from the server or the caller, refused unless within `range`, so that no
    /// value can overflow the plan's arithmetic.
    private static func bounded<T: Comparable>(_ value: T?, _ field: String, _ range: ClosedRange<T>) throws(DrillError) -> T? {
        guard let value else { return nil }
        guard range.contains(value) else {
            throw DrillError(
                code: "invalid_threshold", message: "\(field) is \(value); a drill needs it from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return value
    }

    private static func require<T>(_ value: T?, _ field: String, flag: String, of provider: String) throws(DrillError) -> T {
        guard let value else {
            throw DrillError(
                code: "missing_threshold",
                message: "GET /v1/providers does not give \(field) for \(provider); pass \(flag)"
            )
        }
        return value
    }
}

extension DrillPlan: CustomStringConvertible {
    public var description: String {
        var lines = [
            "Drill \(scenario.rawValue): \(scenario.summary).",
            "Primary \(primary), secondary \(secondary); \(rate) emails/s for \(streamDuration.timeInterval.secondsText).",
        ]
        lines += steps.map { "  at +\($0.offset.timeInterval.secondsText): \($0.label)" }
        lines.append("  at +\(streamDuration.timeInterval.secondsText): the stream stops and \(primary) is made healthy again")
        return lines.joined(separator: "\n")
    }
}
