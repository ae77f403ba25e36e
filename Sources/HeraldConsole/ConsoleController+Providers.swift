import Foundation
import HeraldAPI
import HeraldCore
import Hummingbird

/// The providers page: each provider's health as `GET /v1/providers` gives it, with a small
/// latency chart, pause and resume for operators, and a sandbox's settings, which operators
/// change here as `PUT /v1/admin/providers/{name}/sandbox` does, for demos and drills.
extension ConsoleController {
    func addProviderRoutes(to console: RouterGroup<Context>) {
        console.get("providers") { request, _ in
            try await withSession(request, scope: .read) { signedIn in try renderProviders(signedIn) }
        }
        console.post("providers/:name/pause") { request, context in try await setPaused(true, request, context) }
        console.post("providers/:name/resume") { request, context in try await setPaused(false, request, context) }
        console.post("providers/:name/sandbox", use: updateSandbox)
    }

    /// Pauses or resumes a provider, as `POST /v1/admin/providers/{name}/pause` does: operators only.
    private func setPaused(_ paused: Bool, _ request: Request, _ context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .operator) { signedIn, _ in
            _ = try await dependencies.providers.setPaused(paused, provider: try context.parameters.require("name"))
            return Self.redirect(to: "/console/providers")
        }
    }

    @Sendable func updateSandbox(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .operator) { signedIn, form in
            let name = try context.parameters.require("name")
            let fields = SandboxFields(form)
            guard let behavior = fields.behavior, behavior.problems.isEmpty else {
                let problems = fields.behavior?.problems.map { "\($0.field) \($0.message)" } ?? ["every field must be a number"]
                return try renderProviders(
                    signedIn, error: "\(name) keeps its settings: \(problems.joined(separator: "; ")).", status: .unprocessableContent)
            }
            try dependencies.providers.updateSandbox(named: name, to: behavior)
            return try renderProviders(signedIn, notice: "\(name) now behaves as set.")
        }
    }

    private func renderProviders(
        _ signedIn: SignedIn, notice: String? = nil, error: String? = nil, status: HTTPResponse.Status = .ok
    ) throws -> Response {
        let isOperator = signedIn.key.scope.allows(.operator)
        let statuses = dependencies.providers.statuses()
        let providers: [[String: Any]] = statuses.map { status in
            [
                "name": status.name, "kind": status.kind, "priority": status.priority, "state": status.state.rawValue,
                "breaker": status.breakerState, "p50": status.latency.p50.map(Self.milliseconds) ?? "—",
                "p95": status.latency.p95.map(Self.milliseconds) ?? "—", "calls": status.recentCalls,
                "success": status.recentSuccessRate.map { "\(Int(($0 * 100).rounded())) %" } ?? "—",
                "failures": status.recentFailures.sorted { $0.key.rawValue < $1.key.rawValue }
                    .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", "),
                "sentLastMinute": status.sendsLastMinute,
                "quotas": status.quotas.map { "\($0.period) \($0.used)/\($0.limit.map(String.init) ?? "∞")" }
                    .joined(separator: ", "),
                "reason": status.reason ?? "", "canPause": isOperator, "action": status.state == .paused ? "resume" : "pause",
                "chart": LatencyChart(status.latencyHistory).page,
            ]
        }
        let sandboxes: [[String: Any]] = statuses.compactMap { status in
            status.sandbox.map { behavior in
                [
                    "name": status.name, "latency": behavior.latencyMilliseconds, "jitter": behavior.latencyJitterMilliseconds,
                    "failureRate": behavior.failureRate, "retryAfter": behavior.retryAfterSeconds.map(String.init) ?? "",
                    "classes": ErrorClass.allCases.map { ["value": $0.rawValue, "selected": $0 == behavior.failureClass] },
                    "canChange": isOperator,
                ]
            }
        }
        var page: [String: Any] = ["providers": providers, "canPause": isOperator, "sandboxes": sandboxes]
        if let notice { page["notice"] = notice }
        if let error { page["error"] = error }
        return try render("providers", page, signedIn, status: status)
    }
}

/// A sandbox's settings as the providers page's form holds them.
struct SandboxFields {
    /// The settings, checked by ``SandboxBehavior/problems`` afterwards; nil when a field is not
    /// a number at all.
    let behavior: SandboxBehavior?

    init(_ form: ConsoleForm) {
        func field(_ name: String) -> String { form[name]?.trimmingCharacters(in: .whitespaces) ?? "" }
        let retryAfter = field("retry_after_seconds")
        guard let latency = Int(field("latency_ms")), let jitter = Int(field("latency_jitter_ms")),
            let failureRate = Double(field("failure_rate")), failureRate.isFinite,
            let failureClass = ErrorClass(rawValue: field("failure_class")),
            retryAfter.isEmpty || Int(retryAfter) != nil
        else {
            behavior = nil
            return
        }
        behavior = SandboxBehavior(
            latencyMilliseconds: latency, latencyJitterMilliseconds: jitter, failureRate: failureRate, failureClass: failureClass,
            retryAfterSeconds: Int(retryAfter))
    }
}

/// A provider's latency across the breaker's window, slot by slot: p50 and p95 as small lines
/// drawn on the server, broken where a slot had no calls, with the range in words for screen
/// readers.
struct LatencyChart {
    static let width = 120
    static let height = 32

    let points: [LatencyTracker.Point]

    init(_ points: [LatencyTracker.Point]) {
        self.points = points
    }

    var page: [String: Any] {
        let p95s = points.compactMap { $0.p95?.milliseconds }
        let top = Double(max(1, p95s.max() ?? 0))
        let step = Double(Self.width) / Double(max(1, points.count - 1))
        /// A path of the slots with calls, a new segment after each slot without.
        func path(_ value: (LatencyTracker.Point) -> Duration?) -> String {
            var path: [String] = []
            var drawing = false
            for (index, point) in points.enumerated() {
                guard let milliseconds = value(point)?.milliseconds else {
                    drawing = false
                    continue
                }
                let y = Double(Self.height) - Double(milliseconds) / top * Double(Self.height - 4)
                let point = String(format: "%.1f,%.1f", Double(index) * step, y)
                // A segment starts with a line of no length, which round caps draw as a dot.
                path.append(drawing ? "L\(point)" : "M\(point) L\(point)")
                drawing = true
            }
            return path.joined(separator: " ")
        }
        let summary =
            p95s.isEmpty
            ? "No calls in the window."
            : "p95 from \(p95s.min()!) to \(p95s.max()!) ms across the window; p50 at most \(points.compactMap { $0.p50?.milliseconds }.max()!) ms."
        return [
            "width": Self.width, "height": Self.height, "p50": path(\.p50), "p95": path(\.p95), "summary": summary,
        ]
    }
}
