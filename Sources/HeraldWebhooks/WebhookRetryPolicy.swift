import Foundation
import HeraldCore

/// What follows one attempt to deliver a webhook message: done, another try later, or no
/// more tries.
///
/// Tries at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failure (eight
/// tries over about 27.6 hours, as Resend schedules them), each wait drawn within ±10 %, and
/// no sooner than a `Retry-After` the endpoint sent with 429 or 503. A `410 Gone` stops the
/// message and disables the endpoint; so do five days in which the endpoint answered nothing
/// with 2xx.
public struct WebhookRetryPolicy: Sendable {
    public var delays: [Duration]
    public var disableAfter: Duration

    public static let standard = WebhookRetryPolicy(
        delays: [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000)],
        disableAfter: .seconds(5 * 86_400))

    public init(delays: [Duration], disableAfter: Duration) {
        self.delays = delays
        self.disableAfter = disableAfter
    }

    /// The answer to one attempt, as the policy sees it.
    public enum Answer: Sendable, Equatable {
        case status(Int, retryAfter: Duration?)
        /// No HTTP answer: a timeout, a refused connection, a refused target.
        case none
    }

    /// After attempt `number` (from 1) got `answer` at `now`, for an endpoint that has failed
    /// every attempt since `failingSince` (nil when it answered the last one).
    public func next(
        afterAttempt number: Int, answer: Answer, now: Date, failingSince: Date?, using generator: inout some RandomNumberGenerator
    ) -> WebhookAttempt.Next {
        var retryAfter: Duration?
        if case .status(let status, let hint) = answer {
            if (200..<300).contains(status) { return .delivered }
            if status == 410 { return .failed(disableEndpoint: "the endpoint answered 410 Gone") }
            if status == 429 || status == 503 { retryAfter = hint }
        }
        if let failingSince, now.timeIntervalSince(failingSince) >= disableAfter.timeInterval {
            return .failed(disableEndpoint: "every attempt failed for \(Int(disableAfter.timeInterval / 86_400)) days")
        }
        guard number >= 1, number <= delays.count else { return .failed(disableEndpoint: nil) }
        let base = delays[number - 1].timeInterval
        var wait = base * Double.random(in: 0.9...1.1, using: &generator)
        if let retryAfter { wait = max(wait, retryAfter.timeInterval) }
        return .retry(at: now.addingTimeInterval(wait))
    }
}
