#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A client's `Idempotency-Key`, scoped to the API key that sent it.
public struct IdempotencyKey: Sendable, Hashable {
    public var apiKeyID: String
    public var value: String

    public init(apiKeyID: String, value: String) {
        self.apiKeyID = apiKeyID
        self.value = value
    }

    /// How long an answer is kept for replay.
    public static let retention: Duration = .seconds(24 * 3600)
    /// A claim older than this whose request never finished was left by a process that
    /// stopped; since an answer is stored in the transaction that stores its emails, nothing
    /// was accepted under it, and the key may be claimed again.
    public static let abandonedAfter: Duration = .seconds(60)
}

/// The answer kept for a request made with an idempotency key.
public struct IdempotentAnswer: Sendable, Equatable {
    public var status: Int
    public var body: Data
    public var location: String?

    public init(status: Int, body: Data, location: String?) {
        self.status = status
        self.body = body
        self.location = location
    }
}

/// What the store says when a request with an idempotency key arrives.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key is new (or its old answer expired): go ahead.
    case claimed
    /// The same request was answered before: send that answer again.
    case replay(IdempotentAnswer)
    /// The key was used for a different request.
    case reusedForAnotherRequest
    /// The same request is still being handled.
    case inProgress
}

/// The store side of `Idempotency-Key`.
public protocol IdempotencyStore: Sendable {
    /// Claims `key` for a request whose body hashes to `requestHash`, or says why not.
    func claim(_ key: IdempotencyKey, requestHash: [UInt8], now: Date) async throws -> IdempotencyClaim
    /// Stores `emails` and the answer for `key` in one transaction.
    func insert(batch emails: [NewEmail], answering key: IdempotencyKey, with answer: IdempotentAnswer, now: Date) async throws
    /// Gives up a claim whose request failed, so that a retry can go ahead.
    func release(_ key: IdempotencyKey) async throws
    /// Deletes the keys whose retention has passed at `now`; returns how many.
    func removeExpiredIdempotencyKeys(now: Date) async throws -> Int
}
