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

/// Names one claim of an idempotency key. A claim that was abandoned (older than
/// ``IdempotencyKey/abandonedAfter``) is taken over with a new token, and the answer is stored
/// only under the token that claimed last: a request slower than that and its retry can never
/// both store emails.
public struct IdempotencyClaimToken: Sendable, Hashable {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// 128 random bits in hexadecimal.
    public static func random() -> Self {
        var generator = SystemRandomNumberGenerator()
        let words = [generator.next() as UInt64, generator.next() as UInt64]
        return Self(rawValue: words.map { String($0, radix: 16).leftPadded(to: 16) }.joined())
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}

/// What the store says when a request with an idempotency key arrives.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key is new (or its old answer expired, or its claim was abandoned): go ahead, and
    /// store the answer under this claim.
    case claimed(IdempotencyClaimToken)
    /// The same request was answered before: send that answer again.
    case replay(IdempotentAnswer)
    /// The key was used for a different request.
    case reusedForAnotherRequest
    /// The same request is still being handled.
    case inProgress
}

/// The store side of `Idempotency-Key`.
///
/// `now` is the caller's clock. A store that many nodes share may read its own clock instead,
/// so that nodes whose clocks differ agree on when a claim was abandoned.
public protocol IdempotencyStore: Sendable {
    /// Claims `key` for a request whose body hashes to `requestHash`, or says why not.
    func claim(_ key: IdempotencyKey, requestHash: [UInt8], now: Date) async throws -> IdempotencyClaim
    /// Stores `emails` and the answer for `key` in one transaction, if `claim` is still the
    /// key's claim; else stores nothing and throws ``StoreError/claimLost``.
    func insert(
        batch emails: [NewEmail], answering key: IdempotencyKey, claim: IdempotencyClaimToken, with answer: IdempotentAnswer, now: Date
    ) async throws
    /// Gives up `claim` of a request that failed, so that a retry can go ahead.
    func release(_ key: IdempotencyKey, claim: IdempotencyClaimToken) async throws
    /// Deletes the keys whose retention has passed at `now`; returns how many.
    func removeExpiredIdempotencyKeys(now: Date) async throws -> Int
}
