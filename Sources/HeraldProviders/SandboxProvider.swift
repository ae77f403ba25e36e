// HeraldProviders adapts Herald's provider port to the services that deliver mail, and builds
// the RFC 5322 messages that some of them need.
import HeraldCore
import Synchronization

/// Accepts every email and discards it, after a configurable delay and with a configurable
/// share of failures: for trying Herald without credentials and for chaos drills.
public final class SandboxProvider: EmailProvider {
    public let name: String
    public var kind: String { "sandbox" }
    private let state: Mutex<State>

    private struct State {
        var behavior: SandboxBehavior
        var delivered = 0
        var lastOptions: [String: String] = [:]
        var lastRecipients: [String] = []
    }

    public init(name: String, behavior: SandboxBehavior = .init()) {
        self.name = name
        self.state = Mutex(State(behavior: behavior))
    }

    public var behavior: SandboxBehavior { state.withLock { $0.behavior } }

    /// The provider options of the last email it was given, for demos and tests of routing.
    public var lastOptions: [String: String] { state.withLock { $0.lastOptions } }

    /// The envelope recipients of the last email it was given.
    public var lastRecipients: [String] { state.withLock { $0.lastRecipients } }

    /// How many emails this provider has taken since it started.
    public var deliveredCount: Int { state.withLock { $0.delivered } }

    public func update(_ behavior: SandboxBehavior) {
        state.withLock { $0.behavior = behavior }
    }

    /// A sandbox is always there.
    public func verify() async throws -> Bool { true }

    public func send(_ delivery: Delivery) async throws -> ProviderReceipt {
        let options = delivery.message.options(for: self)
        let behavior = state.withLock { state in
            state.lastOptions = options
            state.lastRecipients = delivery.message.recipients.map(\.address)
            return state.behavior
        }
        let latency = behavior.latencyMilliseconds + Int.random(in: 0...max(0, behavior.latencyJitterMilliseconds))
        if latency > 0 {
            guard .milliseconds(latency) <= delivery.deadline.timeLeft else {
                try await Task.sleep(until: delivery.deadline, clock: .continuous)
                throw ProviderFailure(
                    .ambiguous, code: "timeout", message: "the sandbox provider took longer than the call's deadline")
            }
            try await Task.sleep(for: .milliseconds(latency))
        }
        if behavior.failureRate > 0, Double.random(in: 0..<1) < behavior.failureRate {
            throw ProviderFailure(
                behavior.failureClass,
                code: "sandbox_\(behavior.failureClass.rawValue)",
                message: "the sandbox provider simulated a \(behavior.failureClass.rawValue) failure",
                retryAfter: behavior.retryAfterSeconds.map { .seconds($0) }
            )
        }
        state.withLock { $0.delivered += 1 }
        return ProviderReceipt(providerMessageID: "sandbox-\(delivery.emailID)-\(delivery.attempt)")
    }
}
