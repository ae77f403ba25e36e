import Foundation
import HeraldAPI
import HeraldCore
import Hummingbird

/// The suppression page: the tenant's list, as `GET /v1/suppressions` gives it, with a form to
/// add an address and a button to remove each, for keys that may (`send`).
extension ConsoleController {
    static var suppressionsPerPage: Int { 50 }

    func addSuppressionRoutes(to console: RouterGroup<Context>) {
        console.get("suppressions") { request, _ in
            try await withSession(request, scope: .read) { signedIn in
                try await renderSuppressions(after: request.uri.queryParameters["after"].map(String.init), signedIn)
            }
        }
        console.post("suppressions", use: addSuppression)
        console.post("suppressions/remove", use: removeSuppression)
    }

    @Sendable func addSuppression(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .send) { signedIn, form in
            var problems: [APIError.FieldProblem] = []
            let typed = form["address"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let address =
                typed.isEmpty
                ? {
                    problems.append(.init(field: "address", code: "required", message: "is required")); return ""
                }()
                : SuppressionRequest.address(typed, problems: &problems)
            let typedReason = form["reason"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let reason =
                typedReason.isEmpty ? "added in the console" : SuppressionRequest.reason(typedReason, problems: &problems)
            guard problems.isEmpty else {
                let errors = problems.map { "\($0.field == "address" ? "Address" : "Reason") \($0.message)." }
                return try await renderSuppressions(after: nil, signedIn, errors: errors, typed: (typed, typedReason))
            }
            let (entry, created) = try await dependencies.store.suppress(
                Suppression(address: address, reason: reason, source: .api, createdAt: dependencies.clock.now),
                tenant: signedIn.key.tenant)
            let notice = created ? "Added \(entry.address)." : "\(entry.address) was already on the list."
            return try await renderSuppressions(after: nil, signedIn, notice: notice)
        }
    }

    @Sendable func removeSuppression(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .send) { signedIn, form in
            let address = form["address"] ?? ""
            let removed = try await dependencies.store.unsuppress(address, tenant: signedIn.key.tenant)
            let notice = removed ? "Removed \(address): emails to it are sent again." : "\(address) was not on the list."
            return try await renderSuppressions(after: nil, signedIn, notice: notice)
        }
    }

    private func renderSuppressions(
        after cursor: String?, _ signedIn: SignedIn, notice: String? = nil, errors: [String] = [],
        typed: (address: String, reason: String) = ("", "")
    ) async throws -> Response {
        let limit = Self.suppressionsPerPage
        let entries = try await dependencies.store.suppressions(tenant: signedIn.key.tenant, limit: limit, after: cursor)
        var page: [String: Any] = [
            "canChange": signedIn.key.scope.allows(.send),
            "entries": entries.map { entry -> [String: Any] in
                var row: [String: Any] = [
                    "address": entry.address, "reason": entry.reason, "source": entry.source.rawValue, "added": Self.time(entry.createdAt),
                ]
                // Absent rather than empty: Mustache takes an empty string as true.
                if let email = entry.emailID { row["email"] = email.rawValue }
                return row
            },
            "address": typed.address, "reason": typed.reason,
        ]
        if let notice { page["notice"] = notice }
        if !errors.isEmpty { page["errors"] = errors }
        if entries.count == limit, let last = entries.last {
            page["next"] =
                "/console/suppressions?after="
                + (last.address.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? last.address)
        }
        return try render("suppressions", page, signedIn, status: errors.isEmpty ? .ok : .unprocessableContent)
    }
}
