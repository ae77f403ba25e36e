// HeraldProviders adapts Herald's provider port to the services that deliver mail, and builds
// the RFC 5322 messages that some of them need.
import HeraldCore
import Synchronization

/// Accepts every email and discards it, after a configurable delay and with a configurable
/// share of failures: for trying Herald without credentials and for chaos drills.
///
/// Like Amazon SES's mailbox simulator, it reports events for recipients with certain local
/// parts, at any domain, through the same way as real providers' events: `delivered@`,
/// `bounce@` (a hard bounce), `complaint@` (delivered, then a complaint), `delayed@` (a
/// deferral) and `ooto@` (delivered, then an auto-reply). Other recipients get no events.
public final class SandboxProvider: EmailProvider {
    public let name: String
    public var kind: String { "sandbox" }
    private let state: Mutex<State>
    private let events: (any ProviderEventSink)?
    private let eventDelay: Duration
    private let clock: any WallClock

    private struct State {
        var behavior: SandboxBehavior
        var delivered = 0
        var lastOptions: [String: String] = [:]
        var lastRecipients: [String] = []
    }

    /// Simulated events go to `events` `eventDelay` after the send.
    public init(
        name: String, behavior: SandboxBehavior = .init(), events: (any ProviderEventSink)? = nil, eventDelay: Duration = .zero,
        clock: any WallClock = SystemWallClock()
    ) {
        self.name = name
        self.state = Mutex(State(behavior: behavior))
        self.events = events
        self.eventDelay = eventDelay
        self.clock = clock
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
        let messageID = "sandbox-\(delivery.emailID)-\(delivery.attempt)"
        if let events {
            let simulated = simulatedEvents(for: delivery, messageID: messageID)
            if !simulated.isEmpty { events.recordLater(simulated, after: eventDelay) }
        }
        return ProviderReceipt(providerMessageID: messageID)
    }

    /// The events the simulator's addresses among the recipients get.
    func simulatedEvents(for delivery: Delivery, messageID: String) -> [ProviderEvent] {
        let at = clock.now.adding(eventDelay)
        return delivery.message.recipients.flatMap { recipient -> [ProviderEvent] in
            let localPart = recipient.address.prefix { $0 != "@" }.lowercased()
            let kinds: [(ProviderEvent.Kind, ProviderEvent.Bounce?)]
            switch localPart {
            case "delivered": kinds = [(.delivered, nil)]
            case "bounce":
                kinds = [
                    (
                        .bounced,
                        ProviderEvent.Bounce(
                            severity: .hard, classification: "Permanent/General", diagnostic: "smtp; 550 5.1.1 user unknown")
                    )
                ]
            case "complaint": kinds = [(.delivered, nil), (.complained, nil)]
            case "delayed": kinds = [(.deferred, nil)]
            case "ooto": kinds = [(.delivered, nil), (.autoresponded, nil)]
            default: kinds = []
            }
            return kinds.map { kind, bounce in
                ProviderEvent(
                    id: "\(messageID):\(recipient.address.lowercased()):\(kind.rawValue)", provider: name, kind: kind, occurredAt: at,
                    recipient: recipient.address, emailID: delivery.emailID, providerMessageID: messageID, bounce: bounce,
                    payload: Array(#"{"simulated":"\#(kind.rawValue)"}"#.utf8))
            }
        }
    }
}
