import Foundation
import HeraldAPI
import HeraldCore
import Hummingbird

/// The keys page, for operator keys: every key of the installation, a form to make one (its
/// secret shown once, on the answer), and a button to revoke each.
extension ConsoleController {
    /// Tenant names the form takes: what fits a log line and a URL without escaping.
    static var tenantPattern: String { "[A-Za-z0-9._-]{1,64}" }

    func addKeyRoutes(to console: RouterGroup<Context>) {
        console.get("keys") { request, _ in
            try await withSession(request, scope: .operator) { signedIn in try await renderKeys(signedIn) }
        }
        console.post("keys", use: createKey)
        console.post("keys/:id/revoke", use: revokeKey)
    }

    @Sendable func createKey(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .operator) { signedIn, form in
            let tenant = form["tenant"]?.trimmingCharacters(in: .whitespaces) ?? ""
            var errors: [String] = []
            if tenant.wholeMatch(of: try Regex(Self.tenantPattern)) == nil {
                errors.append("Tenant must be 1 to 64 letters, digits, dots, dashes or underscores.")
            }
            let scope = form["scope"].flatMap(APIKey.Scope.init(rawValue:))
            if scope == nil { errors.append("Scope must be read, send, admin or operator.") }
            guard errors.isEmpty, let scope else { return try await renderKeys(signedIn, errors: errors) }
            let (key, secret) = try await APIKeys.create(tenant: tenant, scope: scope, in: dependencies.store, now: dependencies.clock.now)
            return try await renderKeys(signedIn, created: ["id": key.id, "secret": secret, "tenant": tenant, "scope": scope.rawValue])
        }
    }

    @Sendable func revokeKey(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .operator) { signedIn, form in
            let id = try context.parameters.require("id")
            let revoked = try await dependencies.store.revokeKey(id: id, at: dependencies.clock.now)
            // Revoking the session's own key ends the session: the next page asks to sign in.
            if id == signedIn.key.id { return Self.redirect(to: "/console/sign-in") }
            return try await renderKeys(signedIn, notice: revoked ? "Revoked key \(id)." : "Key \(id) was already revoked or unknown.")
        }
    }

    private func renderKeys(
        _ signedIn: SignedIn, notice: String? = nil, errors: [String] = [], created: [String: String]? = nil
    ) async throws -> Response {
        let keys = try await dependencies.store.keys().sorted { $0.createdAt > $1.createdAt }
        var page: [String: Any] = [
            "keys": keys.map { key -> [String: Any] in
                [
                    "id": key.id, "tenant": key.tenant, "scope": key.scope.rawValue, "created": Self.time(key.createdAt),
                    "revoked": key.revokedAt.map(Self.time) ?? "", "active": key.revokedAt == nil, "own": key.id == signedIn.key.id,
                ]
            },
            "scopes": APIKey.Scope.allCases.map { ["value": $0.rawValue, "selected": $0 == .send] },
            "tenantPattern": Self.tenantPattern,
        ]
        if let notice { page["notice"] = notice }
        if !errors.isEmpty { page["errors"] = errors }
        if let created { page["created"] = created }
        return try render("keys", page, signedIn, status: errors.isEmpty ? .ok : .unprocessableContent)
    }
}
