import Foundation
import HeraldCore
import PostgresNIO

extension PostgresEmailStore: IdempotencyStore {
    /// The database's clock in milliseconds since 1970: every node that shares the store reads
    /// the same clock for its claims, whatever its own says.
    static let databaseNow = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    /// A new key is inserted; of two identical requests at once, the second waits on the first's
    /// row lock and then finds the claim. Claims are timed by the database's clock; `now` is
    /// not used.
    public func claim(_ key: IdempotencyKey, requestHash: [UInt8], now: Date) async throws -> IdempotencyClaim {
        let hash = Data(requestHash)
        let token = IdempotencyClaimToken.random()
        return try await transaction { [self] connection in
            let inserted = try await connection.query(
                """
                INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, created_at, claim_token)
                VALUES (\(key.apiKeyID), \(key.value), \(hash), \(unescaped: Self.databaseNow), \(token.rawValue))
                ON CONFLICT (api_key_id, idempotency_key) DO NOTHING RETURNING created_at
                """,
                logger: logger)
            for try await _ in inserted { return .claimed(token) }
            let rows = try await connection.query(
                """
                SELECT request_hash, status, body, location, created_at, \(unescaped: Self.databaseNow) FROM idempotency_keys
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value) FOR UPDATE
                """,
                logger: logger)
            for try await (storedHash, status, body, location, createdAt, databaseNow)
                in rows.decode((Data, Int?, Data?, String?, Int64, Int64).self)
            {
                let age = Duration.milliseconds(databaseNow - createdAt)
                let expired = age >= IdempotencyKey.retention
                let abandoned = status == nil && age >= IdempotencyKey.abandonedAfter
                if !expired && !abandoned {
                    guard storedHash == hash else { return .reusedForAnotherRequest }
                    guard let status else { return .inProgress }
                    return .replay(IdempotentAnswer(status: status, body: body ?? Data(), location: location))
                }
            }
            // Expired or abandoned: this request takes the key over, and the claim before it
            // can no longer store its answer.
            try await connection.execute(
                """
                UPDATE idempotency_keys SET request_hash = \(hash), status = NULL, body = NULL, location = NULL,
                    created_at = \(unescaped: Self.databaseNow), claim_token = \(token.rawValue)
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value)
                """,
                logger: logger)
            return .claimed(token)
        }
    }

    public func insert(
        batch emails: [NewEmail], answering key: IdempotencyKey, claim: IdempotencyClaimToken, with answer: IdempotentAnswer, now: Date
    ) async throws {
        try await insert(batch: emails) { [self] connection in
            let updated = try await connection.query(
                """
                UPDATE idempotency_keys SET status = \(answer.status), body = \(answer.body), location = \(answer.location)
                WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value) AND claim_token = \(claim.rawValue)
                    AND status IS NULL
                RETURNING 1
                """,
                logger: logger)
            var stored = false
            for try await _ in updated { stored = true }
            // Throwing rolls this request's emails back with it.
            guard stored else { throw StoreError.claimLost }
        }
    }

    public func release(_ key: IdempotencyKey, claim: IdempotencyClaimToken) async throws {
        try await query(
            """
            DELETE FROM idempotency_keys
            WHERE api_key_id = \(key.apiKeyID) AND idempotency_key = \(key.value) AND claim_token = \(claim.rawValue)
                AND status IS NULL
            """)
    }

    /// By the database's clock, as claims are; `now` is not used.
    public func removeExpiredIdempotencyKeys(now: Date) async throws -> Int {
        let rows = try await query(
            """
            DELETE FROM idempotency_keys
            WHERE created_at <= \(unescaped: Self.databaseNow) - \(IdempotencyKey.retention.milliseconds)
            RETURNING 1
            """)
        return rows.count
    }
}
