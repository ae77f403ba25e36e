/// What a drill does to the primary provider, and so what its verdict checks.
public enum Scenario: String, CaseIterable, Sendable {
    case outage
    case busyOutage = "busy-outage"
    case slowdown
    case flapping
    case throttle
    case quota
    case recovery

    /// One line for `--help` and the report.
    public var summary: String {
        switch self {
        case .outage:
            "the primary fails every call; from 1 s on, 99 % of attempts must go elsewhere and no email may fail"
        case .busyOutage:
            "as outage, after 10 s of healthy traffic (hundreds of successes in the breaker's window) on production breaker settings"
        case .slowdown:
            "the primary answers in 3 × its slow threshold; from 5 s on, under 10 % of each second's attempts may go to it"
        case .flapping:
            "the primary fails and heals by turns; while its breaker is open it may get only its half-open probes"
        case .throttle:
            "the primary throttles with Retry-After N; no attempt may reach it until N seconds after its first such answer"
        case .quota:
            "the stream exceeds the primary's daily quota; it may send no email beyond the quota and no email may fail"
        case .recovery:
            "the primary fails, then heals; it must carry traffic again within its breaker's open time + 2 s"
        }
    }
}
