/// How a sandbox provider behaves: how long it takes and how often it fails. Operators change
/// it at run time for demos and chaos drills.
public struct SandboxBehavior: Codable, Sendable, Equatable {
    /// Every call takes at least this long.
    public var latencyMilliseconds: Int
    /// A uniformly random extra delay of up to this much.
    public var latencyJitterMilliseconds: Int
    /// The share of calls that fail, from 0 to 1.
    public var failureRate: Double
    public var failureClass: ErrorClass
    /// Sent with simulated failures as the provider's Retry-After.
    public var retryAfterSeconds: Int?

    public init(
        latencyMilliseconds: Int = 0,
        latencyJitterMilliseconds: Int = 0,
        failureRate: Double = 0,
        failureClass: ErrorClass = .transient,
        retryAfterSeconds: Int? = nil
    ) {
        self.latencyMilliseconds = latencyMilliseconds
        self.latencyJitterMilliseconds = latencyJitterMilliseconds
        self.failureRate = failureRate
        self.failureClass = failureClass
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The delays a sandbox may take: up to ten minutes, longer than any provider timeout.
    public static let latencyRange = 0...600_000
    /// Up to a day, as far as any real provider asks a client to wait.
    public static let retryAfterRange = 0...86_400

    /// The problems that make this behaviour unusable, by field name.
    public var problems: [(field: String, message: String)] {
        var problems: [(String, String)] = []
        let latency = Self.latencyRange
        if !latency.contains(latencyMilliseconds) {
            problems.append(("latency_ms", "must be from \(latency.lowerBound) to \(latency.upperBound)"))
        }
        if !latency.contains(latencyJitterMilliseconds) {
            problems.append(("latency_jitter_ms", "must be from \(latency.lowerBound) to \(latency.upperBound)"))
        }
        if !(0...1).contains(failureRate) { problems.append(("failure_rate", "must be between 0 and 1")) }
        if let retryAfterSeconds, !Self.retryAfterRange.contains(retryAfterSeconds) {
            problems.append(("retry_after_seconds", "must be from 0 to \(Self.retryAfterRange.upperBound)"))
        }
        return problems
    }

    enum CodingKeys: String, CodingKey {
        case latencyMilliseconds = "latency_ms"
        case latencyJitterMilliseconds = "latency_jitter_ms"
        case failureRate = "failure_rate"
        case failureClass = "failure_class"
        case retryAfterSeconds = "retry_after_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            latencyMilliseconds: try container.decodeIfPresent(Int.self, forKey: .latencyMilliseconds) ?? 0,
            latencyJitterMilliseconds: try container.decodeIfPresent(Int.self, forKey: .latencyJitterMilliseconds) ?? 0,
            failureRate: try container.decodeIfPresent(Double.self, forKey: .failureRate) ?? 0,
            failureClass: try container.decodeIfPresent(ErrorClass.self, forKey: .failureClass) ?? .transient,
            retryAfterSeconds: try container.decodeIfPresent(Int.self, forKey: .retryAfterSeconds)
        )
    }
}
