import ArgumentParser
import Foundation
import HeraldDrill
import UnixSignals

struct Drill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a chaos drill against a running server with sandbox providers.",
        discussion: """
            Streams emails, breaks the primary sandbox provider as the scenario says, samples GET \
            /v1/providers every second, then reads back every email and prints a timeline and a \
            verdict. The primary is the provider with the lowest priority number unless --primary \
            names one; it is made healthy again at the end, also on failure or Ctrl-C. Thresholds \
            the server does not report come from the flags. Exits 0 on PASS, 1 on FAIL, 2 when the \
            drill could not run.

            Scenarios:
            \(Scenario.allCases.map { "  \($0.rawValue): \($0.summary)" }.joined(separator: "\n"))
            """
    )

    @OptionGroup var options: ServerOptions

    @Argument(
        help: ArgumentHelp("The scenario.", valueName: Scenario.allCases.map(\.rawValue).joined(separator: "|")),
        completion: .list(Scenario.allCases.map(\.rawValue)),
        transform: { name in
            guard let scenario = Scenario(rawValue: name) else {
                throw ValidationError("unknown scenario '\(name)'; use one of \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return scenario
        }
    )
    var scenario: Scenario

    @Option(help: "Emails per second.")
    var rate = 40

    @Option(help: "Seconds of healthy traffic before the first change.")
    var warmup = 1.0

    @Option(
        help: """
            Seconds the primary stays broken (outage 6, slowdown 9, flapping 10, throttle retry-after + 4, recovery 4; \
            quota: 3 more than it takes to use up the quota).
            """
    )
    var duration: Double?

    @Option(help: "The provider to break (default: the lowest priority number).")
    var primary: String?

    @Option(help: "The provider expected to take the traffic (default: the next in priority).")
    var secondary: String?

    @Option(help: "The primary's slow threshold in ms, when GET /v1/providers has no slow_ms.")
    var slowMs: Int?

    @Option(help: "The primary's daily quota, when GET /v1/providers has no quota.daily.limit.")
    var dailyQuota: Int?

    @Option(help: "The breaker's open time in seconds, when GET /v1/providers has no breaker.open_seconds.")
    var openSeconds: Double?

    @Option(help: "The breaker's half-open probes, when GET /v1/providers has no breaker.half_open_probes.")
    var halfOpenProbes: Int?

    @Option(help: "The Retry-After of the throttle scenario, in seconds.")
    var retryAfter = 3

    @Option(help: "Seconds of each failing and each healthy spell of the flapping scenario.")
    var flapSeconds = 2.0

    @Option(help: "Seconds to wait after the stream for every email to be final.")
    var settleSeconds = 30.0

    func validate() throws {
        guard rate > 0 else { throw ValidationError("--rate must be at least 1") }
        guard warmup >= 0, duration ?? 1 > 0, flapSeconds > 0, settleSeconds >= 0 else {
            throw ValidationError("--warmup, --duration, --flap-seconds and --settle-seconds must be positive")
        }
        guard retryAfter >= 0 else { throw ValidationError("--retry-after must be 0 or more") }
    }

    func run() async throws {
        var configuration = DrillConfiguration()
        configuration.rate = rate
        configuration.warmup = .seconds(warmup)
        configuration.duration = duration.map { .seconds($0) }
        configuration.primary = primary
        configuration.secondary = secondary
        configuration.slowMilliseconds = slowMs
        configuration.dailyQuota = dailyQuota
        configuration.openSeconds = openSeconds
        configuration.halfOpenProbes = halfOpenProbes
        configuration.retryAfterSeconds = retryAfter
        configuration.flapPeriod = .seconds(flapSeconds)
        configuration.settleTimeout = .seconds(settleSeconds)

        let report: DrillReport
        do {
            report = try await HeraldClient.with(
                server: options.server, apiKey: try options.key(), connections: configuration.maxRequestsInFlight
            ) { client in
                let drill = try await ChaosDrill.prepare(scenario, configuration: configuration, client: client)
                print(drill.plan)
                print()
                return try await Self.runUntilSignalled(drill)
            }
        } catch is CancellationError {
            FileHandle.standardError.write(Data("herald: drill interrupted; the primary was made healthy again\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("herald: drill: \(error)\n".utf8))
            throw ExitCode(2)
        }
        print(report)
        if !report.verdict.passed { throw ExitCode(1) }
    }

    /// Runs the drill, cancelling it on SIGINT or SIGTERM so that it restores the primary
    /// before the process ends; it then throws, and that error is the answer.
    private static func runUntilSignalled(_ drill: ChaosDrill) async throws -> DrillReport {
        try await withThrowingTaskGroup(of: DrillReport?.self) { group in
            group.addTask { try await drill.run() }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
                return nil
            }
            while let finished = try await group.next() {
                group.cancelAll()
                if let report = finished { return report }
            }
            throw CancellationError()
        }
    }
}
