import Foundation
import HeraldAPI
import HeraldCore
import Hummingbird

/// The webhook pages: the tenant's endpoints, and each one's delivery log, as
/// `GET /v1/webhooks` and `/deliveries` give them. Admin keys enable and disable an endpoint
/// and send a message again, as `PATCH /v1/webhooks/{id}` and `/replay` do. Endpoints are
/// made through the API, which shows their secret.
extension ConsoleController {
    static var attemptsPerPage: Int { 50 }

    func addWebhookRoutes(to console: RouterGroup<Context>) {
        console.get("webhooks") { request, _ in
            try await withSession(request, scope: .read) { signedIn in
                let endpoints = try await dependencies.store.webhookEndpoints(tenant: signedIn.key.tenant)
                return try render("webhooks", ["endpoints": endpoints.map(Self.endpointRow)], signedIn)
            }
        }
        console.get("webhooks/:id") { request, context in
            try await withSession(request, scope: .read) { signedIn in
                let before = request.uri.queryParameters["before"].flatMap { Int64($0) }.map(Date.init(milliseconds:))
                return try await renderEndpoint(try context.parameters.require("id"), before: before, notice: nil, signedIn)
            }
        }
        console.post("webhooks/:id/enable") { request, context in try await setEnabled(true, request, context) }
        console.post("webhooks/:id/disable") { request, context in try await setEnabled(false, request, context) }
        console.post("webhooks/:id/replay", use: replayWebhook)
    }

    private func setEnabled(_ enabled: Bool, _ request: Request, _ context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .admin) { signedIn, _ in
            let id = try context.parameters.require("id")
            guard var endpoint = try await dependencies.store.webhookEndpoint(id: id, tenant: signedIn.key.tenant) else {
                return try notFound(signedIn)
            }
            endpoint.enabled = enabled
            // Enabling it by hand forgets why Herald disabled it, as the API's PATCH does.
            if enabled { endpoint.disabledReason = nil }
            endpoint.updatedAt = dependencies.clock.now
            _ = try await dependencies.store.updateWebhookEndpoint(endpoint)
            return try await renderEndpoint(id, before: nil, notice: enabled ? "Enabled." : "Disabled: nothing is sent to it.", signedIn)
        }
    }

    @Sendable func replayWebhook(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .admin) { signedIn, form in
            let id = try context.parameters.require("id")
            guard let message = form["message"], !message.isEmpty else { return try notFound(signedIn) }
            let count = try await dependencies.store.replayWebhooks(
                endpointID: id, tenant: signedIn.key.tenant, messageID: message, from: nil, to: nil, now: dependencies.clock.now)
            return try await renderEndpoint(
                id, before: nil, notice: count == 0 ? "No such message for this endpoint." : "Message \(message) will be sent again.",
                signedIn)
        }
    }

    private func renderEndpoint(_ id: String, before: Date?, notice: String?, _ signedIn: SignedIn) async throws -> Response {
        guard let endpoint = try await dependencies.store.webhookEndpoint(id: id, tenant: signedIn.key.tenant) else {
            return try notFound(signedIn)
        }
        let limit = Self.attemptsPerPage
        let attempts = try await dependencies.store.webhookAttempts(
            endpointID: id, tenant: signedIn.key.tenant, limit: limit, before: before)
        var page = Self.endpointRow(endpoint)
        page["canChange"] = signedIn.key.scope.allows(.admin)
        page["attempts"] = attempts.map { attempt -> [String: Any] in
            let next: String =
                switch attempt.next {
                case .delivered: "delivered"
                case .retry(let at): "retry at \(Self.time(at))"
                case .failed(let reason): reason.map { "gave up; endpoint disabled: \($0)" } ?? "gave up"
                }
            return [
                "message": attempt.messageID, "number": attempt.number, "at": Self.time(attempt.at),
                "status": attempt.statusCode.map(String.init) ?? "—", "latency": "\(attempt.latencyMilliseconds) ms",
                "next": next, "answer": attempt.error ?? attempt.response.map { String($0.prefix(120)) } ?? "",
            ]
        }
        if let notice { page["notice"] = notice }
        if attempts.count == limit, let last = attempts.last {
            page["older"] = "/console/webhooks/\(id)?before=\(last.at.milliseconds)"
        }
        return try render("webhook", page, signedIn)
    }

    private func notFound(_ signedIn: SignedIn) throws -> Response {
        try render("problem", ["heading": "Not found", "message": "There is no such webhook endpoint."], signedIn, status: .notFound)
    }

    private static func endpointRow(_ endpoint: WebhookEndpoint) -> [String: Any] {
        var row: [String: Any] = [
            "id": endpoint.id, "url": endpoint.url,
            "events": endpoint.eventTypes.isEmpty ? "all" : endpoint.eventTypes.map(\.rawValue).sorted().joined(separator: ", "),
            "state": endpoint.enabled ? "enabled" : "disabled", "enabled": endpoint.enabled,
        ]
        if let reason = endpoint.disabledReason { row["reason"] = reason }
        return row
    }
}
