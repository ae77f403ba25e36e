import Foundation
import HeraldCore
import PostgresNIO

extension PostgresEmailStore: IdempotencyStore {
    /// A new key is inserted; of two identical requests at once, the second waits on the first's
    /// row lock and then finds the claim.
    public func claim(_ key: IdempotencyKey, requestHash: [UInt8], now: Date) async throws -> IdempotencyClaim {
        let hash = Data(requestHash)
        let at = now.milliseconds
        return try await transaction { connection in
            let inserted = try await connection.query(
                """
                INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, created_at)
                VALUES (\(key.apiKeyID), \(key.value), \(hash), \(at))
                ON CONFLICT (api_key_id, idempotency_key) DO NOTHING RETURNING created_at
                """,
                logger: logger)
            for try await _ in inserted { return .claimed }
            let rows = try await connection.query(
                """
                SELECT request_hash, status, body, location, created_at FROM idempotency_keys
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value) FOR UPDATE
                """,
                logger: logger)
            for try await (storedHash, status, body, location, createdAt) in rows.decode((Data, Int?, Data?, String?, Int64).self) {
                let created = Date(milliseconds: createdAt)
                let expired = now >= created.adding(IdempotencyKey.retention)
                let abandoned = status == nil && now >= created.adding(IdempotencyKey.abandonedAfter)
                if !expired && !abandoned {
                    guard storedHash == hash else { return .reusedForAnotherRequest }
                    guard let status else { return .inProgress }
                    return .replay(IdempotentAnswer(status: status, body: body ?? Data(), location: location))
                }
            }
            // Expired or abandoned: this request takes the key over.
            try await connection.execute(
                """
                UPDATE idempotency_keys SET request_hash = \(hash), status = NULL, body = NULL, location = NULL, created_at = \(at)
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value)
                """,
                logger: logger)
            return .claimed
        }
    }

    public func insert(batch emails: [NewEmail], answering key: IdempotencyKey, with answer: IdempotentAnswer, now: Date) async throws {
        try await insert(batch: emails) { connection in
            try await connection.execute(
                """
                UPDATE idempotency_keys SET status = \(answer.status), body = \(answer.body), location = \(answer.location)
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value)
                """,
                logger: logger)
        }
    }

    public func release(_ key: IdempotencyKey) async throws {
        try await client.query(
            """
            DELETE FROM idempotency_keys
            WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value) AND status IS NULL
            """,
            logger: logger
        ).consume()
    }

    public func removeExpiredIdempotencyKeys(now: Date) async throws -> Int {
        let rows = try await client.query(
            """
            DELETE FROM idempotency_keys WHERE created_at <= \(now.adding(.zero - IdempotencyKey.retention).milliseconds)
            RETURNING 1
            """,
            logger: logger)
        var removed = 0
        for try await _ in rows { removed += 1 }
        return removed
    }
}
