import Crypto
import Foundation
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeraldAPI
@testable import HeraldServer

@Suite("API keys and tenants")
struct AuthAPITests {
    /// The public id in `hk_<id>_<secret>`.
    static func id(of key: String) -> String {
        String(key.split(separator: "_")[1])
    }

    @Test func `every v1 route needs a valid key, and health, readiness and metrics do not`() async throws {
        try await APIHarness.run { harness, client in
            let revoked = try await harness.key(scope: .admin)
            #expect(try await harness.store.revokeKey(id: Self.id(of: revoked), at: harness.clock.now))
            for key in [nil, "hk_nope_nope", "Basic abc", revoked, String(revoked.dropLast())] {
                let response = try await client.get("/v1/emails", as: key)
                #expect(response.status == .unauthorized)
                #expect(response.error["code"] as? String == "unauthorized")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            #expect(try await client.post("/v1/emails", json: APIFixtures.validEmail, as: nil).status == .unauthorized)
            #expect(try await client.get("/v1/providers", as: nil).status == .unauthorized)
            for open in ["/healthz", "/readyz", "/metrics"] { #expect(try await client.get(open, as: nil).status == .ok) }
        }
    }

    /// Paths that the router may take to a `/v1` route, or not: either way no data without a
    /// key, and a key's rate counts for each.
    @Test(arguments: ["//v1/emails", "/v1//emails", "/%761/emails", "/V1/emails", "/v1/emails/", "/v1/emails//", "/./v1/emails"])
    func `every spelling of a v1 path needs a key and counts against its rate`(path: String) async throws {
        try await APIHarness.run { harness, client in
            _ = try await client.accept()
            let anonymous = try await client.get(path, as: nil)
            #expect([.unauthorized, .notFound].contains(anonymous.status), "\(path): \(anonymous.status)")
            #expect(anonymous.json["data"] == nil, "\(path) showed emails without a key")
            guard anonymous.status == .unauthorized else { return }
            let slow = try await harness.key(scope: .read, ratePerSecond: 1)
            #expect(try await client.get(path, as: slow).status == .ok)
            #expect(try await client.get(path, as: slow).status == .tooManyRequests, "\(path) escaped the rate limit")
        }
    }

    @Test func `only an operator key acts on the whole installation`() async throws {
        try await APIHarness.run { harness, client in
            let admin = try await harness.key(tenant: "acme", scope: .admin)
            let operatorKey = try await harness.key(scope: .operator)
            for (method, path) in [
                ("POST", "/v1/admin/providers/sandbox/pause"), ("POST", "/v1/admin/providers/sandbox/resume"),
                ("PUT", "/v1/admin/providers/sandbox/sandbox"),
            ] {
                let refused =
                    method == "PUT" ? try await client.put(path, json: "{}", as: admin) : try await client.post(path, json: "", as: admin)
                #expect(refused.status == .forbidden, "\(path)")
                #expect(refused.error["code"] as? String == "insufficient_scope")
                let allowed =
                    method == "PUT"
                    ? try await client.put(path, json: "{}", as: operatorKey) : try await client.post(path, json: "", as: operatorKey)
                #expect(allowed.status == .ok, "\(path)")
            }
            // Within its tenant an admin key still runs the bulk routes.
            #expect(try await client.post("/v1/emails/cancel", json: #"{"status": "queued"}"#, as: admin).status == .ok)
        }
    }

    @Test func `a key may do what its scope allows and gets 403 beyond it`() async throws {
        try await APIHarness.run { harness, client in
            let read = try await harness.key(scope: .read)
            let send = try await harness.key(scope: .send)
            #expect(try await client.post("/v1/emails", json: APIFixtures.validEmail, as: read).status == .forbidden)
            let sent = try await client.post("/v1/emails", json: APIFixtures.validEmail, as: send)
            #expect(sent.status == .accepted)
            let id = try #require(sent.json["id"] as? String)
            #expect(try await client.get("/v1/emails/\(id)", as: read).status == .ok)
            #expect(try await client.get("/v1/providers", as: read).status == .ok)
            let forbidden = try await client.post("/v1/admin/providers/sandbox/pause", json: "", as: send)
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.error["code"] as? String == "insufficient_scope")
            #expect(try await client.post("/v1/emails/cancel", json: #"{"status": "queued"}"#, as: send).status == .forbidden)
            #expect(try await client.post("/v1/emails/\(id)/cancel", json: "", as: send).status == .ok)
        }
    }

    @Test func `another tenant's emails are not found, by id or in lists, on every route that takes an id`() async throws {
        try await APIHarness.run { harness, client in
            let acme = try await harness.key(tenant: "acme", scope: .send)
            let globex = try await harness.key(tenant: "globex", scope: .admin)
            let sent = try await client.post("/v1/emails", json: APIFixtures.validEmail, as: acme)
            let id = try #require(sent.json["id"] as? String)
            #expect(try await harness.store.email(try #require(EmailID(id)))?.status == .queued)

            #expect(try await client.get("/v1/emails/\(id)", as: globex).status == .notFound)
            #expect(try await client.post("/v1/emails/\(id)/cancel", json: "", as: globex).status == .notFound)
            #expect(try await client.post("/v1/emails/\(id)/retry", json: "", as: globex).status == .notFound)
            #expect((try await client.get("/v1/emails", as: globex).json["data"] as? [Any])?.isEmpty == true)
            #expect(try await client.post("/v1/emails/cancel", json: #"{"status": "queued"}"#, as: globex).json["cancelled"] as? Int == 0)

            #expect(try await client.get("/v1/emails/\(id)", as: acme).status == .ok)
            #expect((try await client.get("/v1/emails", as: acme).json["data"] as? [Any])?.count == 1)
        }
    }

    @Test func `remembers a key that passed for the cache time only`() {
        let cache = APIKeyCache(duration: .seconds(1))
        let key = APIKey(id: "k", tenant: "t", scope: .read, createdAt: Date())
        let start = ContinuousClock.now
        let digest = SHA256.hash(data: Array("hk_k_secret".utf8))
        cache.remember(key, for: digest, at: start)
        #expect(cache.key(for: digest, at: start + .milliseconds(999)) == key)
        #expect(cache.key(for: digest, at: start + .seconds(1)) == nil)
        #expect(cache.key(for: SHA256.hash(data: Array("hk_k_other".utf8)), at: start) == nil)
    }

    @Test(arguments: [
        ("Bearer hk_a_b", "hk_a_b"), ("bearer   hk_a_b  ", "hk_a_b"), ("BEARER hk_a_b", "hk_a_b"), ("Basic abc", nil),
        ("Bearer", nil), ("Bearer    ", nil), ("Bearer\u{0}hk_a_b", nil), ("Bearerhk_a_b", nil),
    ])
    func `reads the token of a Bearer header in any case, without its spaces`(header: String, token: String?) {
        #expect(APIKeyMiddleware<HeraldRequestContext>.bearerToken(header).map(String.init) == token)
    }

    @Test func `limits each key to its rate, with the rate-limit headers on every answer`() async throws {
        try await APIHarness.run { harness, client in
            let slow = try await harness.key(scope: .read, ratePerSecond: 2)
            let first = try await client.get("/v1/emails", as: slow)
            #expect(first.status == .ok)
            #expect(first.headers[.rateLimitLimit] == "2")
            #expect(first.headers[.rateLimitRemaining] == "1")
            #expect(first.headers[.rateLimitReset] == "1")
            let notFound = try await client.get("/v1/emails/nothing-here", as: slow)
            #expect(notFound.status == .notFound)
            #expect(notFound.headers[.rateLimitRemaining] == "0", "error answers carry the headers too")
            let limited = try await client.get("/v1/emails", as: slow)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.error["code"] as? String == "rate_limited")
            #expect(limited.headers[.retryAfter] == "1")
            #expect(try await client.get("/v1/emails").status == .ok, "other keys have their own bucket")
            harness.clock.advance(by: .milliseconds(500))
            #expect(try await client.get("/v1/emails", as: slow).status == .ok, "a token comes back every half second")
        }
    }

    @Test func `stores only a hash of each key`() async throws {
        try await APIHarness.run { harness, _ in
            let secret = try await harness.key(scope: .read)
            let stored = try #require(try await harness.store.key(id: Self.id(of: secret)))
            #expect(stored.secretHash == APIKeys.hash(secret))
            #expect(!stored.secretHash.isEmpty && stored.secretHash != Array(secret.utf8))
            #expect(try await APIKeys.authenticate(secret, in: harness.store)?.scope == .read)
        }
    }

    @Test func `no key id starts with a dash, which the command line would read as an option`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.openForKeys(path: directory.appendingPathComponent("herald.db").path)
            // One id in 64 would start with "-" without the rule: 640 keys miss it by chance once in 26,000 runs.
            for _ in 0..<640 {
                let (key, _) = try await APIKeys.create(tenant: "acme", scope: .read, in: store, now: Date())
                #expect(!key.id.hasPrefix("-"), "\(key.id)")
            }
        }
    }

    @Test func `makes and prints an operator key on a first start with no key, and only then`() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteEmailStore.openForKeys(path: directory.appendingPathComponent("herald.db").path)
            try await HeraldServer.createFirstKey(in: store, now: Date())
            let keys = try await store.keys()
            #expect(keys.map(\.scope) == [.operator])
            try await HeraldServer.createFirstKey(in: store, now: Date())
            #expect(try await store.keys().count == 1)
        }
    }
}
