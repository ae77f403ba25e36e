import Crypto
import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird
import Synchronization

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

/// A key asked for with a request rate outside ``APIKey/rateRange``.
public struct InvalidKeyRate: Error, Sendable, CustomStringConvertible {
    public let code = "invalid_key_rate"
    public let ratePerSecond: Double

    init(_ ratePerSecond: Double) {
        self.ratePerSecond = ratePerSecond
    }

    public var description: String {
        "a key's rate must be from \(APIKey.rateRange.lowerBound) to \(APIKey.rateRange.upperBound) requests a second, not \(ratePerSecond)"
    }
}

/// API keys: `hk_<id>_<secret>`, where the id names the key in lists and the secret is 256 random
/// bits. Only the SHA-256 of the whole key is stored, and it is compared in constant time.
public enum APIKeys {
    /// Creates a key, stores its hash, and returns the key itself: it exists nowhere else, so
    /// it must be shown to its owner now, once.
    public static func create(
        tenant: String, scope: APIKey.Scope, ratePerSecond: Double? = nil, in store: any APIKeyStore, now: Date
    ) async throws -> (key: APIKey, secret: String) {
        if let ratePerSecond, !APIKey.rateRange.contains(ratePerSecond) {
            throw InvalidKeyRate(ratePerSecond)
        }
        // An id that starts with "-" reads as an option to `herald keys revoke <id>`.
        var id = randomToken(bytes: 9)
        while id.hasPrefix("-") { id = randomToken(bytes: 9) }
        let secret = "hk_\(id)_\(randomToken(bytes: 32))"
        let key = APIKey(id: id, tenant: tenant, scope: scope, createdAt: now, ratePerSecond: ratePerSecond)
        try await store.saveKey(key, secretHash: hash(secret))
        return (key, secret)
    }

    /// The key that `secret` is, unless it is unknown, wrong or revoked.
    public static func authenticate(_ secret: String, in store: any APIKeyStore) async throws -> APIKey? {
        try await authenticate(secret, digest: SHA256.hash(data: Array(secret.utf8)), in: store)
    }

    static func authenticate(_ secret: String, digest: SHA256Digest, in store: any APIKeyStore) async throws -> APIKey? {
        let secretHash = Array(digest)
        let parts = secret.split(separator: "_")
        guard parts.count == 3, parts[0] == "hk", let (key, storedHash) = try await store.key(id: String(parts[1])) else { return nil }
        guard constantTimeEqual(secretHash, storedHash), key.revokedAt == nil else { return nil }
        return key
    }

    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
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
///
/// It is the middleware of the `/v1` route group (``Hummingbird/Router/authenticatedAPI(_:)``),
/// not a test of the request's path: whatever spelling of a path the router matches to a `/v1`
/// route (`//v1/emails`, `/v1/emails/`) passes through it.
///
/// A key that passed is remembered for `cacheDuration` (by its hash), so that a busy client
/// does not cost a database read per request; a revoked key is refused once that has passed.
///
/// Each key may make `ratePerSecond` requests a second (its own rate, or `defaultRatePerSecond`),
/// with a second's worth as burst: beyond it the answer is 429 with `Retry-After`, and every
/// answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
public struct APIKeyMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let store: any APIKeyStore
    private let cache: APIKeyCache
    private let limiter: RateLimiter

    public init(
        store: any APIKeyStore, defaultRatePerSecond: Double, clock: any WallClock, cacheDuration: Duration = .seconds(1)
    ) {
        self.store = store
        self.cache = APIKeyCache(duration: cacheDuration)
        self.limiter = RateLimiter(defaultRatePerSecond: defaultRatePerSecond, clock: clock)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let secret = request.headers[.authorization].flatMap(Self.bearerToken) else { throw APIError.unauthorized }
        // The cache is keyed by the secret's digest, so that finding a key takes no comparison
        // of secrets whose time an attacker could measure.
        let digest = SHA256.hash(data: Array(secret.utf8))
        let now = ContinuousClock.now
        var key = cache.key(for: digest, at: now)
        if key == nil { key = try await authenticated(String(secret), digest: digest, at: now) }
        guard let key else { throw APIError.unauthorized }
        let (allowed, headers) = limiter.take(for: key)
        guard allowed else {
            throw APIError(
                .tooManyRequests, code: "rate_limited",
                message: "this API key made more requests than its rate limit allows; retry later", headers: headers)
        }
        var context = context
        context.apiKey = key
        // Error answers carry the key's rate-limit headers too, so they are made here.
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = try APIErrorMiddleware<Context>.response(for: error, to: request, context: context)
        }
        response.headers.append(contentsOf: headers)
        return response
    }

    private func authenticated(_ secret: String, digest: SHA256Digest, at now: ContinuousClock.Instant) async throws -> APIKey? {
        guard let key = try await APIKeys.authenticate(secret, digest: digest, in: store) else { return nil }
        cache.remember(key, for: digest, at: now)
        return key
    }

    /// The token of `Bearer <token>` (the scheme in any case, RFC 9110 §11.1), without the
    /// spaces around it. Reads bytes: this runs on every request.
    static func bearerToken(_ header: String) -> Substring? {
        let scheme = "bearer ".utf8
        guard header.utf8.count > scheme.count,
            zip(header.utf8, scheme).allSatisfy({ byte, expected in byte == expected || expected != 0x20 && byte | 0x20 == expected })
        else { return nil }
        var token = Substring(header).utf8.dropFirst(scheme.count)
        while token.first == UInt8(ascii: " ") { token = token.dropFirst() }
        while token.last == UInt8(ascii: " ") { token = token.dropLast() }
        return token.isEmpty ? nil : Substring(token)
    }
}

extension Router where Context: AuthenticatedRequestContext {
    /// The `/v1` group, every route of which needs a key.
    public func authenticatedAPI(_ keys: APIKeyMiddleware<Context>) -> RouterGroup<Context> {
        group("v1").add(middleware: keys)
    }
}

/// Keys that passed recently, by the hash of their secret.
final class APIKeyCache: Sendable {
    /// More keys than any deployment uses at once; past it the cache starts over.
    private static let capacity = 10_000
    private let duration: Duration
    private let entries = Mutex<[SHA256Digest: (key: APIKey, until: ContinuousClock.Instant)]>([:])

    init(duration: Duration) {
        self.duration = duration
    }

    func key(for digest: SHA256Digest, at now: ContinuousClock.Instant) -> APIKey? {
        entries.withLock { entries in
            guard let entry = entries[digest], entry.until > now else { return nil }
            return entry.key
        }
    }

    func remember(_ key: APIKey, for digest: SHA256Digest, at now: ContinuousClock.Instant) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[digest] = (key, now + duration)
        }
    }
}

/// A token bucket per API key.
final class RateLimiter: Sendable {
    private let defaultRatePerSecond: Double
    private let clock: any WallClock
    private let buckets = Mutex<[String: TokenBucket]>([:])

    init(defaultRatePerSecond: Double, clock: any WallClock) {
        self.defaultRatePerSecond = defaultRatePerSecond
        self.clock = clock
    }

    /// Takes a token for `key`; returns whether there was one, and the rate-limit headers.
    func take(for key: APIKey) -> (allowed: Bool, headers: HTTPFields) {
        let now = clock.now
        // A rate stored before rates were checked at creation must not trap the bucket.
        let rate = key.ratePerSecond.flatMap { APIKey.rateRange.contains($0) ? $0 : nil } ?? defaultRatePerSecond
        return buckets.withLock { buckets in
            var bucket = buckets[key.id].flatMap { $0.ratePerSecond == rate ? $0 : nil } ?? TokenBucket(ratePerSecond: rate)
            let allowed = bucket.take(at: now)
            buckets[key.id] = bucket
            let available = bucket.available(at: now)
            var headers: HTTPFields = [
                .rateLimitLimit: "\(Int(bucket.burst))",
                .rateLimitRemaining: "\(Int(available.rounded(.down)))",
                .rateLimitReset: "\(Int(((bucket.burst - available) / rate).rounded(.up)))",
            ]
            if !allowed {
                headers[.retryAfter] = "\(max(1, Int(bucket.nextTokenAt(now).timeIntervalSince(now).rounded(.up))))"
            }
            return (allowed, headers)
        }
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
