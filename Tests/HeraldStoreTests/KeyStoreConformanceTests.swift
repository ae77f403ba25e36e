import Foundation
import HeraldCore
import HeraldTesting
import Testing

/// Idempotency keys and API keys, against every store.
@Suite("Key store conformance")
struct KeyStoreConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func `a claim left by a stopped process is taken over, and answers expire after 24 hours`(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let key = IdempotencyKey(apiKeyID: "a", value: "v")
            let start = Date(timeIntervalSince1970: 1_800_000_000)  // whole milliseconds, as the store keeps them
            #expect(try await store.claim(key, requestHash: [1], now: start) == .claimed)
            #expect(try await store.claim(key, requestHash: [1], now: start.adding(.seconds(59))) == .inProgress)
            #expect(try await store.claim(key, requestHash: [1], now: start.adding(.seconds(60))) == .claimed)
            let answer = IdempotentAnswer(status: 202, body: Data("{}".utf8), location: nil)
            try await store.insert(batch: [], answering: key, with: answer, now: start)
            #expect(try await store.claim(key, requestHash: [1], now: start.adding(.seconds(3600))) == .replay(answer))
            #expect(try await store.claim(key, requestHash: [1], now: start.adding(.seconds(25 * 3600))) == .claimed)

            let claimedAt = start.adding(.seconds(25 * 3600))
            #expect(try await store.removeExpiredIdempotencyKeys(now: claimedAt.adding(.seconds(24 * 3600 - 1))) == 0)
            #expect(try await store.removeExpiredIdempotencyKeys(now: claimedAt.adding(.seconds(24 * 3600))) == 1)
            #expect(try await store.claim(key, requestHash: [2], now: claimedAt.adding(.seconds(24 * 3600))) == .claimed)
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
            #expect(claims.filter { $0 == .claimed }.count == 1)
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
