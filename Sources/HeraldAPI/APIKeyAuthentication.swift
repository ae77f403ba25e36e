import Crypto
import Foundation
import HeraldCore
import Hummingbird

/// A request context that carries the API key the request was authenticated with.
public protocol AuthenticatedRequestContext: RequestContext {
    var apiKey: APIKey? { get set }
}

/// The request context of Herald's router.
public struct HeraldRequestContext: AuthenticatedRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var apiKey: APIKey?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

extension AuthenticatedRequestContext {
    /// The request's key, if it has at least `scope`; else a 403 (`insufficient_scope`).
    func key(withScope scope: APIKey.Scope) throws(APIError) -> APIKey {
        guard let apiKey else { throw APIError.unauthorized }
        guard apiKey.scope.allows(scope) else {
            throw APIError(
                .forbidden, code: "insufficient_scope", message: "this route needs a key with the \(scope.rawValue) scope")
        }
        return apiKey
    }
}

/// API keys: `hk_<id>_<secret>`, where the id names the key in lists and the secret is 256 random
/// bits. Only the SHA-256 of the whole key is stored, and it is compared in constant time.
public enum APIKeys {
    /// Creates a key, stores its hash, and returns the key itself: it exists nowhere else, so
    /// it must be shown to its owner now, once.
    public static func create(tenant: String, scope: APIKey.Scope, in store: any APIKeyStore, now: Date) async throws -> (
        key: APIKey, secret: String
    ) {
        let id = randomToken(bytes: 9)
        let secret = "hk_\(id)_\(randomToken(bytes: 32))"
        let key = APIKey(id: id, tenant: tenant, scope: scope, createdAt: now)
        try await store.saveKey(key, secretHash: hash(secret))
        return (key, secret)
    }

    /// The key that `secret` is, unless it is unknown, wrong or revoked.
    public static func authenticate(_ secret: String, in store: any APIKeyStore) async throws -> APIKey? {
        let parts = secret.split(separator: "_")
        guard parts.count == 3, parts[0] == "hk", let (key, storedHash) = try await store.key(id: String(parts[1])) else { return nil }
        guard constantTimeEqual(hash(secret), storedHash), key.revokedAt == nil else { return nil }
        return key
    }

    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(secret.utf8)))
    }

    /// Whether two hashes are equal, in a time that does not depend on where they differ.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// URL-safe base64 without padding, so that a key is one word in a shell or a header.
    private static func randomToken(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(random).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "")
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "_", with: "")
    }
}

/// Every `/v1` route needs `Authorization: Bearer <key>` with a valid key; others (health,
/// readiness, metrics) do not. The key goes into the context for the routes' scope checks.
public struct APIKeyMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let store: any APIKeyStore

    public init(store: any APIKeyStore) {
        self.store = store
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") || request.uri.path == "/v1" else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
            let key = try await APIKeys.authenticate(
                String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces), in: store)
        else { throw APIError.unauthorized }
        var context = context
        context.apiKey = key
        return try await next(request, context)
    }
}
