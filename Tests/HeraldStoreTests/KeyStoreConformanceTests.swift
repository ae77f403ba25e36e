import Foundation
import HeraldCore
import HeraldStorePostgres
import HeraldTesting
import PostgresNIO
import Testing

/// Idempotency keys and API keys, against every store.
@Suite("Key store conformance")
struct KeyStoreConformanceTests {
    /// Runs `body` with a store and a way to let time pass for its idempotency claims. SQLite
    /// takes the time from its callers, so the next `now` is later; PostgreSQL reads its own
    /// clock, so the claims are made older instead.
    func withClaims(
        _ kind: StoreKind, _ body: (any HeraldStore, _ now: () -> Date, _ pass: (Duration) async throws -> Void) async throws -> Void
    ) async throws {
        var now = Date(timeIntervalSince1970: 1_800_000_000)  // whole milliseconds, as the stores keep them
        switch kind {
        case .sqlite:
            try await kind.withStore(now: now) { store in
                try await body(store, { now }, { now = now.adding($0) })
            }
        case .postgres:
            try await PostgresTestDatabase.withClient { client in
                let store = PostgresEmailStore(
                    client: client, logger: PostgresTestDatabase.logger, timeout: PostgresTestDatabase.storeTimeout)
                try await store.migrate()
                try await body(store, { now }) { duration in
                    now = now.adding(duration)
                    try await client.query(
                        "UPDATE idempotency_keys SET created_at = created_at - \(duration.milliseconds)",
                        logger: PostgresTestDatabase.logger)
                }
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `a claim left by a stopped process is taken over, and answers expire after 24 hours`(kind: StoreKind) async throws {
        try await withClaims(kind) { store, now, pass in
            let key = IdempotencyKey(apiKeyID: "a", value: "v")
            guard case .claimed = try await store.claim(key, requestHash: [1], now: now()) else {
                Issue.record("a new key must be claimed")
                return
            }
            try await pass(.seconds(59))
            #expect(try await store.claim(key, requestHash: [1], now: now()) == .inProgress)
            try await pass(.seconds(1))
            guard case .claimed(let token) = try await store.claim(key, requestHash: [1], now: now()) else {
                Issue.record("a claim of 60 s without an answer must be taken over")
                return
            }
            let answer = IdempotentAnswer(status: 202, body: Data("{}".utf8), location: nil)
            try await store.insert(batch: [], answering: key, claim: token, with: answer, now: now())
            try await pass(.seconds(3600))
            #expect(try await store.claim(key, requestHash: [1], now: now()) == .replay(answer))
            try await pass(.seconds(24 * 3600))
            guard case .claimed = try await store.claim(key, requestHash: [1], now: now()) else {
                Issue.record("an answer older than 24 hours must expire")
                return
            }

            try await pass(.seconds(24 * 3600 - 1))
            #expect(try await store.removeExpiredIdempotencyKeys(now: now()) == 0)
            try await pass(.seconds(1))
            #expect(try await store.removeExpiredIdempotencyKeys(now: now()) == 1)
            guard case .claimed = try await store.claim(key, requestHash: [2], now: now()) else {
                Issue.record("a removed key must be free")
                return
            }
        }
    }

    /// A request slower than a minute and its retry: the retry takes the key over, and the slow
    /// one's final write finds its claim gone and stores nothing.
    @Test(arguments: StoreKind.allCases)
    func `only the last claim of a key may store its emails`(kind: StoreKind) async throws {
        try await withClaims(kind) { store, now, pass in
            let key = IdempotencyKey(apiKeyID: "a", value: "slow")
            guard case .claimed(let slow) = try await store.claim(key, requestHash: [3], now: now()) else {
                Issue.record("a new key must be claimed")
                return
            }
            try await pass(.seconds(61))
            guard case .claimed(let retry) = try await store.claim(key, requestHash: [3], now: now()) else {
                Issue.record("the retry must take the abandoned claim over")
                return
            }
            #expect(slow != retry)
            let answer = IdempotentAnswer(status: 202, body: Data("{}".utf8), location: nil)
            let late = NewEmail(id: EmailID(date: now()), message: .sample(), acceptedAt: now())
            await #expect(throws: StoreError.claimLost) {
                try await store.insert(batch: [late], answering: key, claim: slow, with: answer, now: now())
            }
            #expect(try await store.email(late.id) == nil, "the slow request's email was stored")
            try await store.release(key, claim: slow)
            let stored = NewEmail(id: EmailID(date: now()), message: .sample(), acceptedAt: now())
            try await store.insert(batch: [stored], answering: key, claim: retry, with: answer, now: now())
            #expect(try await store.email(stored.id) != nil)
            #expect(try await store.claim(key, requestHash: [3], now: now()) == .replay(answer))
            await #expect(throws: StoreError.claimLost) {
                try await store.insert(batch: [], answering: key, claim: retry, with: answer, now: now())
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `of concurrent claims of one key exactly one goes ahead`(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let key = IdempotencyKey(apiKeyID: "a", value: "same")
            let now = Date(milliseconds: 1_800_000_000_000)
            let claims = try await withThrowingTaskGroup(of: IdempotencyClaim.self) { group in
                for _ in 0..<8 { group.addTask { try await store.claim(key, requestHash: [7], now: now) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(claims.filter { if case .claimed = $0 { true } else { false } }.count == 1)
            #expect(claims.filter { $0 == .inProgress }.count == 7)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func `keeps API keys with their hash, lists them and revokes them`(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let created = Date(milliseconds: 1_800_000_000_000)
            let key = APIKey(id: "k1", tenant: "acme", scope: .send, createdAt: created, ratePerSecond: 5)
            try await store.saveKey(key, secretHash: [1, 2, 3])
            let stored = try #require(try await store.key(id: "k1"))
            #expect(stored.key == key)
            #expect(stored.secretHash == [1, 2, 3])
            #expect(try await store.keys() == [key])
            #expect(try await store.revokeKey(id: "k1", at: created.adding(.seconds(1))))
            #expect(try await store.key(id: "k1")?.key.revokedAt == created.adding(.seconds(1)))
            #expect(try await !store.revokeKey(id: "nobody", at: created))
        }
    }
}
