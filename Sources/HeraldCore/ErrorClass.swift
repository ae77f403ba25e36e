/// How a failed provider call affects the email and the provider.
public enum ErrorClass: String, Codable, Sendable, CaseIterable {
    /// The provider could not take the email now (throttled, unavailable): try another provider,
    /// and later this one again.
    case transient
    /// This provider cannot take this email (too large, a feature it lacks) but others may: try
    /// the next provider now. Says nothing about the provider's health.
    case failover
    /// The message itself is rejected: fail at once, no retry.
    case permanent
    /// A recipient is rejected: fail at once, no retry.
    case recipient
    /// Credentials, account or configuration are broken: open the provider's breaker and fail over.
    case providerFatal = "provider_fatal"
    /// The request may or may not have reached the provider (a timeout after it was sent, or a
    /// process that stopped mid-call). Retrying may deliver the email twice.
    case ambiguous

    /// Whether a failure of this class says the provider is unhealthy.
    public var countsAgainstProvider: Bool {
        switch self {
        case .transient, .providerFatal, .ambiguous: true
        case .failover, .permanent, .recipient: false
        }
    }

    /// Whether the email is beyond help: no provider will take it, now or later.
    public var isFinalForEmail: Bool {
        switch self {
        case .permanent, .recipient: true
        case .transient, .failover, .providerFatal, .ambiguous: false
        }
    }
}
