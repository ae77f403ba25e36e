import HeraldClient
import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs one drill against a running Herald: streams emails, changes the primary on the plan's
/// schedule while sampling the providers every second, makes the primary healthy again, then
/// reads back every email it sent and judges what happened.
public struct ChaosDrill: Sendable {
    public let plan: DrillPlan
    public let configuration: DrillConfiguration
    private let client: DrillClient

    public init(plan: DrillPlan, configuration: DrillConfiguration, client: DrillClient) {
        self.plan = plan
        self.configuration = configuration
        self.client = client
    }

    /// Plans `scenario` from the providers the server lists now.
    public static func prepare(_ scenario: Scenario, configuration: DrillConfiguration, client: DrillClient) async throws -> ChaosDrill {
        let providers = try await client.providers()
        let plan = try DrillPlan(scenario: scenario, configuration: configuration, providers: providers)
        return ChaosDrill(plan: plan, configuration: configuration, client: client)
    }

    /// Runs the drill. The primary is made healthy (`{}`) before the stream and after it,
    /// also when the drill fails or is cancelled part way.
    public func run() async throws -> DrillReport {
        try await client.updateSandbox(plan.primary, to: SandboxBehavior())
        try await waitUntilPrimaryTakesCalls()
        let startedAt = Date()
        let start = ContinuousClock.now
        var parts: [Part] = []
        do {
            try await withThrowingTaskGroup(of: Part.self) { group in
                group.addTask { .sends(try await stream(from: start)) }
                group.addTask { .samples(try await sample(from: start)) }
                group.addTask { .changes(try await applySteps(from: start)) }
                for try await part in group { parts.append(part) }
            }
        } catch {
            // Cancellation would abort a request made from this task at once, so the primary
            // is restored from a task of its own that this one waits for.
            if case .failure(let restoreError) = await Task(operation: { try await restore() }).result {
                throw DrillError(
                    code: "restore_failed", message: "\(error); then making \(plan.primary) healthy failed too: \(restoreError)")
            }
            throw error
        }
        let streamEndedAt = Date()
        let restored = try await restore()

        var ids: [String] = []
        var sendFailures: [String] = []
        var changes: [DrillRecording.Change] = []
        var samples: [DrillRecording.Sample] = []
        for part in parts {
            switch part {
            case .sends(let results):
                for result in results {
                    switch result {
                    case .success(let id): ids.append(id)
                    case .failure(let error): sendFailures.append(error.message)
                    }
                }
            case .samples(let taken): samples = taken
            case .changes(let made): changes = made
            }
        }
        let emails = try await settle(ids)
        let recording = DrillRecording(
            startedAt: startedAt, streamEndedAt: streamEndedAt, changes: changes + [restored], samples: samples, emails: emails,
            sendsTried: ids.count + sendFailures.count, sendFailures: sendFailures, unread: ids.count - emails.count
        )
        return DrillReport(plan: plan, recording: recording)
    }

    private enum Part: Sendable {
        case sends([Result<String, DrillError>])
        case samples([DrillRecording.Sample])
        case changes([DrillRecording.Change])
    }

    /// A breaker or a throttle that an earlier drill left behind would skew this one's first
    /// seconds, so the stream starts once the primary takes calls again.
    private func waitUntilPrimaryTakesCalls() async throws {
        guard let primary = try await client.providers().first(where: { $0.name == plan.primary }) else { return }
        let closedAt = [primary.isBreakerOpen ? primary.openUntil : nil, primary.throttledUntil].compactMap { $0 }.max()
        if let wait = closedAt?.timeIntervalSinceNow, wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }

    /// Sends `rate` emails a second until the stream's end, with a bounded number in flight.
    /// A refused send is kept as a result: the stream goes on and the verdict reports it.
    private func stream(from start: ContinuousClock.Instant) async throws -> [Result<String, DrillError>] {
        let email = Self.email(plan.scenario)
        let count = Int(plan.streamDuration.timeInterval * Double(plan.rate))
        let interval = Duration.seconds(1) / plan.rate
        return try await mapConcurrently(0..<count, before: { try await Task.sleep(until: start + interval * $0) }) { _ in
            do {
                return .success(try await client.send(email))
            } catch let error as DrillError {
                return .failure(error)
            }
        }
    }

    /// Reads the providers at the middle of every second of the stream, so that each second of
    /// the timeline has one sample. A reading that fails leaves its second without one.
    private func sample(from start: ContinuousClock.Instant) async throws -> [DrillRecording.Sample] {
        var samples: [DrillRecording.Sample] = []
        var due = start + .milliseconds(500)
        while due < start + plan.streamDuration {
            try await Task.sleep(until: due)
            if let providers = try? await client.providers() { samples.append(.init(at: Date(), providers: providers)) }
            due += .seconds(1)
        }
        return samples
    }

    private func applySteps(from start: ContinuousClock.Instant) async throws -> [DrillRecording.Change] {
        var changes: [DrillRecording.Change] = []
        for step in plan.steps {
            try await Task.sleep(until: start + step.offset)
            let at = Date()
            try await client.updateSandbox(plan.primary, to: step.behavior)
            changes.append(.init(provider: plan.primary, label: step.label, behavior: step.behavior, at: at))
        }
        return changes
    }

    private func restore() async throws -> DrillRecording.Change {
        let at = Date()
        try await client.updateSandbox(plan.primary, to: SandboxBehavior())
        return .init(provider: plan.primary, label: "restore: \(plan.primary) is healthy again", behavior: SandboxBehavior(), at: at)
    }

    /// Reads every email until all are final or the settle timeout has passed; an email that
    /// cannot be read is left out.
    private func settle(_ ids: [String]) async throws -> [EmailRecord] {
        let deadline = ContinuousClock.now + configuration.settleTimeout
        var records: [String: EmailRecord] = [:]
        var pending = ids
        while true {
            for record in try await mapConcurrently(pending, { try? await client.email($0) }) {
                if let record { records[record.id] = record }
            }
            pending = pending.filter { records[$0]?.isFinal != true }
            guard !pending.isEmpty, ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        return ids.compactMap { records[$0] }
    }

    /// Runs `body` on every element with at most `maxRequestsInFlight` running, and returns the
    /// results in the elements' order. `before` runs for each element in turn before its call
    /// starts, so that it can pace the calls.
    private func mapConcurrently<Element: Sendable, Output: Sendable>(
        _ elements: some Sequence<Element>,
        before: (Element) async throws -> Void = { _ in },
        _ body: @escaping @Sendable (Element) async throws -> Output
    ) async throws -> [Output] {
        try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            var outputs: [(Int, Output)] = []
            for (index, element) in elements.enumerated() {
                try await before(element)
                if index >= configuration.maxRequestsInFlight, let output = try await group.next() { outputs.append(output) }
                group.addTask { (index, try await body(element)) }
            }
            for try await output in group { outputs.append(output) }
            return outputs.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The drill's email: tagged so that operators can tell its traffic apart.
    static func email(_ scenario: Scenario) -> Components.Schemas.SendEmailRequest {
        Components.Schemas.SendEmailRequest(
            from: "Herald drill <drill@herald-drill.example>", to: ["sink@herald-drill.example"],
            subject: "Chaos drill: \(scenario.rawValue)", text: "Sent by herald drill \(scenario.rawValue).", tags: ["drill"],
            metadata: .init(additionalProperties: ["drill": scenario.rawValue]))
    }
}
