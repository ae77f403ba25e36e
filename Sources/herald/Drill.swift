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

    @Option(help: "Seconds of healthy traffic before the first change (busy-outage: at least 10).")
    var warmup = 1.0

    @Option(
        help: """
            Seconds the primary stays broken (outage and busy-outage 6, slowdown 9, flapping 10, throttle retry-after + 4, recovery 4; \
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

    /// Every number is bounded, so that no flag can overflow the plan's arithmetic or make a
    /// duration that traps.
    func validate() throws {
        let day = 86_400.0
        guard (1...10_000).contains(rate) else { throw ValidationError("--rate must be from 1 to 10000") }
        guard (0...day).contains(warmup), (0.1...day).contains(duration ?? 1), (0.1...day).contains(flapSeconds),
            (0...day).contains(settleSeconds)
        else {
            throw ValidationError(
                "--warmup and --settle-seconds must be from 0, --duration and --flap-seconds from 0.1, to 86400 seconds")
        }
        guard (0...86_400).contains(retryAfter) else { throw ValidationError("--retry-after must be from 0 to 86400") }
        guard (1...3_600_000).contains(slowMs ?? 1) else { throw ValidationError("--slow-ms must be from 1 to 3600000") }
        guard (0...Int(Int32.max)).contains(dailyQuota ?? 0) else { throw ValidationError("--daily-quota must be from 0 to 2147483647") }
        guard (0.01...day).contains(openSeconds ?? 1) else { throw ValidationError("--open-seconds must be from 0.01 to 86400") }
        guard (1...1000).contains(halfOpenProbes ?? 1) else { throw ValidationError("--half-open-probes must be from 1 to 1000") }
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
            report = try await DrillClient.with(
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
