import Foundation
import HeraldCore
import Logging

extension Dispatcher {
    /// One delivery round for one leased email.
    func deliver(_ email: LeasedEmail) async {
        var logger = self.logger
        logger[metadataKey: "email.id"] = "\(email.id)"
        var round = Round(email: email)
        do {
            for route in router.routes {
                let startedAt = clock.now
                guard case .success(let permit) = router.acquire(route, now: startedAt) else { continue }
                let number = round.nextAttemptNumber()
                // An attempt not yet written is this round's previous one, and it failed.
                if let failed = round.finishedAttempt, let reason = failed.errorClass {
                    metrics.failover(from: failed.provider, to: route.name, reason: reason)
                }
                do {
                    try await store.record(round.progress(next: .attempt(number: number, provider: route.name), at: startedAt))
                } catch {
                    router.release(route, permit: permit)
                    throw error
                }
                let delivery = Delivery(emailID: email.id, attempt: number, message: email.message, acceptedAt: email.acceptedAt)
                let start = ContinuousClock.now
                let result = await call(route, delivery)
                let latency = ContinuousClock.now - start
                let finishedAt = clock.now
                router.record(route, permit: permit, failure: result.failure, latency: latency, now: finishedAt)
                metrics.attempt(
                    provider: route.name, outcome: result.failure == nil ? .sent : .failed, errorClass: result.failure?.errorClass,
                    latency: latency)

                var attemptLogger = logger
                attemptLogger[metadataKey: "provider"] = "\(route.name)"
                attemptLogger[metadataKey: "attempt"] = "\(number)"
                attemptLogger[metadataKey: "latency_ms"] = "\(latency.milliseconds)"

                switch result {
                case .success(let receipt):
                    round.finish(number, provider: route.name, startedAt: startedAt, latency: latency, receipt: receipt)
                    try await store.record(
                        round.progress(next: .sent(provider: route.name, providerMessageID: receipt.providerMessageID), at: finishedAt)
                    )
                    attemptLogger.info("email sent", metadata: ["outcome": "sent"])
                    return
                case .failure(let failure):
                    round.finish(number, provider: route.name, startedAt: startedAt, latency: latency, failure: failure)
                    attemptLogger.notice(
                        "attempt failed",
                        metadata: ["outcome": "failed", "error_class": "\(failure.errorClass.rawValue)", "error_code": "\(failure.code)"]
                    )
                    if failure.errorClass.isFinalForEmail {
                        try await store.record(round.progress(next: .failed(reason: failure.reason), at: finishedAt))
                        logger.notice("email failed", metadata: ["outcome": "failed", "reason": "\(failure.reason)"])
                        return
                    }
                }
                // A call with an unknown outcome may have delivered the email: wait before trying
                // again rather than sending a second copy through another provider at once.
                if round.lastFailure?.errorClass == .ambiguous { break }
            }
            try await endRoundUndelivered(&round, logger: logger)
        } catch let error as StoreError where error.code == .leaseLost {
            logger.warning("lease lost during delivery; another dispatcher owns the email now")
        } catch {
            logger.error("could not record delivery progress; the email is retried when its lease expires", metadata: ["error": "\(error)"])
        }
    }

    private func endRoundUndelivered(_ round: inout Round, logger: Logger) async throws {
        let now = clock.now
        let reason = round.lastFailure?.reason ?? "no_provider_available"
        let next: DeliveryProgress.Next
        if Task.isCancelled {
            // Shutdown cut the round short: the email is due again as soon as a dispatcher runs.
            next = .deferred(until: now, reason: "interrupted_by_shutdown")
        } else {
            var generator = SystemRandomNumberGenerator()
            let decision = configuration.retryPolicy.decision(
                afterRound: round.email.round, acceptedAt: round.email.queuedAt, now: now,
                retryAfter: round.retryAfter, using: &generator
            )
            switch decision {
            case .retry(let at): next = .deferred(until: at, reason: reason)
            case .giveUp(let why): next = .failed(reason: "\(why) (last: \(reason))")
            }
        }
        try await store.record(round.progress(next: next, at: now))
        switch next {
        case .deferred: logger.info("email deferred", metadata: ["outcome": "deferred", "reason": "\(reason)"])
        default: logger.notice("email failed", metadata: ["outcome": "failed", "reason": "\(reason)"])
        }
    }

    /// Calls the provider, turning a timeout and every unexpected error into a classified failure.
    private func call(_ route: ProviderRouter.Route, _ delivery: Delivery) async -> Result<ProviderReceipt, ProviderFailure> {
        do {
            let receipt = try await withThrowingTaskGroup(of: ProviderReceipt?.self) { group in
                group.addTask { try await route.provider.send(delivery) }
                group.addTask {
                    try await Task.sleep(for: route.timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let receipt = first else {
                    throw ProviderFailure(.ambiguous, code: "timeout", message: "the provider did not answer within \(route.timeout)")
                }
                return receipt
            }
            return .success(receipt)
        } catch let failure as ProviderFailure {
            return .failure(failure)
        } catch is CancellationError {
            return .failure(ProviderFailure(.ambiguous, code: "cancelled", message: "the call was cancelled by shutdown"))
        } catch {
            return .failure(ProviderFailure(.transient, code: "unexpected_error", message: "the provider failed with \(type(of: error))"))
        }
    }
}

/// What a round has done so far: the attempt numbers it used and the last failure.
struct Round {
    let email: LeasedEmail
    private(set) var attemptsSoFar: Int
    private(set) var finishedAttempt: Attempt?
    private(set) var lastFailure: ProviderFailure?
    private(set) var retryAfter: Duration?

    init(email: LeasedEmail) {
        self.email = email
        self.attemptsSoFar = email.attemptsSoFar
    }

    mutating func nextAttemptNumber() -> Int {
        attemptsSoFar += 1
        return attemptsSoFar
    }

    mutating func finish(_ number: Int, provider: String, startedAt: Date, latency: Duration, receipt: ProviderReceipt) {
        finishedAttempt = Attempt(
            number: number, provider: provider, startedAt: startedAt, latencyMilliseconds: Int(latency.milliseconds),
            outcome: .sent, message: receipt.refusalSummary(of: email.message.recipients.count))
    }

    mutating func finish(_ number: Int, provider: String, startedAt: Date, latency: Duration, failure: ProviderFailure) {
        finishedAttempt = Attempt(
            number: number, provider: provider, startedAt: startedAt, latencyMilliseconds: Int(latency.milliseconds),
            outcome: .failed, errorClass: failure.errorClass, errorCode: failure.code, message: failure.message)
        lastFailure = failure
        if let after = failure.retryAfter { retryAfter = max(retryAfter ?? .zero, after) }
    }

    /// The progress to write next; the finished attempt goes out with it exactly once.
    mutating func progress(next: DeliveryProgress.Next, at: Date) -> DeliveryProgress {
        defer { finishedAttempt = nil }
        return DeliveryProgress(emailID: email.id, leaseToken: email.leaseToken, finishedAttempt: finishedAttempt, next: next, at: at)
    }
}

extension ProviderReceipt {
    /// `refused 1 of 3 recipients: carol@example.net (recipient:smtp_550_5.1.1)`, for the
    /// attempt's history; `nil` when every recipient was taken.
    func refusalSummary(of recipientCount: Int) -> String? {
        guard !refusedRecipients.isEmpty else { return nil }
        let refused = refusedRecipients.map { "\($0.address) (\($0.failure.reason))" }.joined(separator: ", ")
        return "refused \(refusedRecipients.count) of \(recipientCount) recipients: \(refused)"
    }
}

extension ProviderFailure {
    /// `class:code`, as shown in an email's failure reason.
    var reason: String { "\(errorClass.rawValue):\(code)" }
}

extension Result where Failure == ProviderFailure {
    var failure: ProviderFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
