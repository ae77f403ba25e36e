/// How to run a drill. Every threshold left nil is read from `GET /v1/providers`; a value set
/// here wins over the server's.
public struct DrillConfiguration: Sendable, Equatable {
    /// Emails per second in the stream.
    public var rate = 40
    /// Healthy traffic before the first change, so the timeline shows where the drill started.
    public var warmup: Duration = .seconds(1)
    /// How long the primary stays broken; nil for the scenario's own length.
    public var duration: Duration?
    /// By default the provider with the lowest priority number.
    public var primary: String?
    /// By default the next provider in priority order.
    public var secondary: String?
    public var slowMilliseconds: Int?
    public var dailyQuota: Int?
    public var openSeconds: Double?
    public var halfOpenProbes: Int?
    /// The Retry-After of the throttle scenario.
    public var retryAfterSeconds = 3
    /// How long each healthy and each failing spell of the flapping scenario lasts.
    public var flapPeriod: Duration = .seconds(2)
    /// How long to wait after the stream for every email to reach a final status.
    public var settleTimeout: Duration = .seconds(30)
    /// Requests of the stream, and reads afterwards, in flight at most.
    public var maxRequestsInFlight = 32

    public init() {}
}
