import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore: IdempotencyStore {
    public func claim(_ key: IdempotencyKey, requestHash: [UInt8], now: Date) async throws -> IdempotencyClaim {
        try await write { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM idempotency_keys WHERE api_key_id = ? AND idempotency_key = ?",
                arguments: [key.apiKeyID, key.value])
            if let row {
                let createdAt = Date(milliseconds: row["created_at"])
                let status: Int? = row["status"]
                let expired = now >= createdAt.adding(IdempotencyKey.retention)
                let abandoned = status == nil && now >= createdAt.adding(IdempotencyKey.abandonedAfter)
                if !expired && !abandoned {
                    guard [UInt8](row["request_hash"] as Data) == requestHash else { return .reusedForAnotherRequest }
                    guard let status else { return .inProgress }
                    return .replay(IdempotentAnswer(status: status, body: row["body"], location: row["location"]))
                }
            }
            let token = IdempotencyClaimToken.random()
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO idempotency_keys (api_key_id, idempotency_key, request_hash, created_at, claim_token)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [key.apiKeyID, key.value, Data(requestHash), now.milliseconds, token.rawValue])
            return .claimed(token)
        }
    }

    public func insert(
        batch emails: [NewEmail], answering key: IdempotencyKey, claim: IdempotencyClaimToken, with answer: IdempotentAnswer, now: Date
    ) async throws {
        try await insert(batch: emails) { db in
            try db.execute(
                sql: """
                    UPDATE idempotency_keys SET status = ?, body = ?, location = ?
                    WHERE api_key_id = ? AND idempotency_key = ? AND claim_token = ? AND status IS NULL
                    """,
                arguments: [answer.status, answer.body, answer.location, key.apiKeyID, key.value, claim.rawValue])
            // Throwing rolls this request's emails back with it.
            guard db.changesCount == 1 else { throw StoreError.claimLost }
        }
    }

    public func release(_ key: IdempotencyKey, claim: IdempotencyClaimToken) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    DELETE FROM idempotency_keys
                    WHERE api_key_id = ? AND idempotency_key = ? AND claim_token = ? AND status IS NULL
                    """,
                arguments: [key.apiKeyID, key.value, claim.rawValue])
        }
    }

    public func removeExpiredIdempotencyKeys(now: Date) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM idempotency_keys WHERE created_at <= ?",
                arguments: [now.adding(.zero - IdempotencyKey.retention).milliseconds])
            return db.changesCount
        }
    }
}
