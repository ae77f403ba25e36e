import Foundation
import HeraldCore
import Logging

extension Dispatcher {
    /// One delivery round for one leased email.
    func deliver(_ email: LeasedEmail) async {
        let log = EmailLog(logger: logger, emailID: email.id)
        var round = Round(email: email, policy: router.policy)
        var generator = SystemRandomNumberGenerator()
        do {
            guard !round.message.recipients.isEmpty else {
                try await persist(round.progress(next: .suppressed, at: clock.now))
                log.notice("email suppressed", ["outcome": "suppressed"])
                return
            }
            for route in router.order(now: clock.now, using: &generator) {
                let startedAt = clock.now
                let lease: ProviderRouter.Lease
                switch router.acquire(route, now: startedAt) {
                case .success(let granted): lease = granted
                case .failure(let skip):
                    round.skip(route.name, because: skip)
                    continue
                }
                if let next = try await takeSharedSendToken(lease, now: startedAt) {
                    router.release(lease)
                    round.skip(route.name, because: .rateLimited(until: next))
                    continue
                }
                let number = round.nextAttemptNumber()
                // An attempt not yet written is this round's previous one, and it failed.
                if let failed = round.finishedAttempt, let reason = failed.errorClass {
                    metrics.failover(from: failed.provider, to: route.name, reason: reason)
                }
                do {
                    try await persist(round.progress(next: .attempt(number: number, provider: route.name), at: startedAt))
                } catch {
                    router.release(lease)
                    throw error
                }
                let start = ContinuousClock.now
                let delivery = Delivery(
                    emailID: email.id, attempt: number, message: round.message, acceptedAt: email.acceptedAt,
                    deadline: start.advanced(by: route.timeout))
                let result = await call(route, delivery)
                let latency = ContinuousClock.now - start
                let finishedAt = clock.now
                if let changed = router.record(lease, failure: result.failure, latency: latency, now: finishedAt) {
                    await keep(changed)
                }
                metrics.attempt(
                    provider: route.name, outcome: result.failure == nil ? .sent : .failed, errorClass: result.failure?.errorClass,
                    latency: latency)

                var attemptLog = log
                attemptLog.attempt = (route.name, number, latency)

                switch result {
                case .success(let receipt):
                    round.finish(number, provider: route.name, startedAt: startedAt, latency: latency, receipt: receipt)
                    try await persist(
                        round.progress(next: .sent(provider: route.name, providerMessageID: receipt.providerMessageID), at: finishedAt)
                    )
                    attemptLog.info("email sent", ["outcome": "sent"])
                    return
                case .failure(let failure):
                    round.finish(number, provider: route.name, startedAt: startedAt, latency: latency, failure: failure)
                    attemptLog.notice(
                        "attempt failed",
                        ["outcome": "failed", "error_class": "\(failure.errorClass.rawValue)", "error_code": "\(failure.code)"]
                    )
                    if failure.errorClass.isFinalForEmail {
                        try await persist(round.progress(next: .failed(reason: failure.reason), at: finishedAt))
                        log.notice("email failed", ["outcome": "failed", "reason": "\(failure.reason)"])
                        return
                    }
                }
                // A call with an unknown outcome may have delivered the email: wait before trying
                // again rather than sending a second copy through another provider at once.
                if round.lastFailure?.errorClass == .ambiguous { break }
            }
            try await endRoundUndelivered(&round, log: log)
        } catch let error as StoreError where error.code == .leaseLost {
            log.warning("lease lost during delivery; another dispatcher owns the email now")
        } catch {
            // The email stays leased to this node; once the round has ended, the next lease
            // hands it back, rather than leaving it until the lease runs out.
            lookForUnheldLeases()
            log.error("could not record delivery progress; the email is due again shortly", ["error": "\(error)"])
        }
    }

    /// Records a round's progress, trying again while the store fails: the round holds what
    /// happened (an email sent, an attempt about to start), and it is written once the store
    /// answers, not left to the lease's expiry. A store that refuses the progress because the
    /// lease passed on ends the round; so does shutdown.
    ///
    /// A try that timed out may have been committed all the same; its repeat then finds either
    /// the round's next step still open, and writes it again (an attempt row already there is
    /// kept), or the email settled, and ends as a lost lease.
    private func persist(_ progress: DeliveryProgress) async throws {
        var backoff = StoreBackoff()
        while true {
            do {
                return try await store.record(progress)
            } catch let error as StoreError where error.code == .unavailable && !Task.isCancelled {
                let (delay, isFirst) = backoff.failed()
                if isFirst {
                    EmailLog(logger: logger, emailID: progress.emailID).warning("could not record delivery progress; trying again")
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    /// On a store that several nodes share, a provider's send rate holds for all of them
    /// together: the send also takes a token from the store's bucket. Returns when the next one
    /// is there, if there is none now.
    ///
    /// A store that cannot say (it fails or does not answer in time) counts as no token for a
    /// second: sending anyway could break the provider's limit, and ending the round would
    /// hold the email until its lease ran out, while the next provider may take it now.
    private func takeSharedSendToken(_ lease: ProviderRouter.Lease, now: Date) async throws -> Date? {
        guard let rate = lease.sendRate, let shared = sharedStore else { return nil }
        do {
            return try await shared.takeSendToken(provider: lease.route.name, ratePerSecond: rate.perSecond, burst: rate.burst, now: now)
        } catch let error as StoreError {
            logger.warning(
                "could not take a send token; passing the provider over",
                metadata: ["provider": "\(lease.route.name)", "error": "\(error)"])
            return now.addingTimeInterval(1)
        } catch {
            router.release(lease)
            throw error
        }
    }

    /// Writes a provider's changed state, so that a restarted process starts from it. A failed
    /// write loses only that: the provider's health is rebuilt from its next calls.
    private func keep(_ state: ProviderStateRecord) async {
        do {
            try await store.saveProviderState(state)
        } catch {
            logger.warning("could not store a provider's state", metadata: ["provider": "\(state.provider)", "error": "\(error)"])
        }
    }

    private func endRoundUndelivered(_ round: inout Round, log: EmailLog) async throws {
        let now = clock.now
        let reason = round.lastFailure?.reason ?? "no_provider_available"
        let next: DeliveryProgress.Next
        if Task.isCancelled {
            // Shutdown cut the round short: the email is due again as soon as a dispatcher runs.
            next = .deferred(until: now, reason: "interrupted_by_shutdown")
        } else if !round.madeAttempt {
            // Every provider was paused, open, throttled or out of quota: nothing was tried, so
            // the round does not count, and the email waits until a provider may take it.
            let until = max(round.earliestAvailable ?? now.adding(configuration.retryPolicy.base), now.adding(.milliseconds(50)))
            if until > round.email.queuedAt.adding(configuration.retryPolicy.maxAge) {
                next = .failed(reason: "max_age_reached (last: \(reason))")
            } else {
                next = .waiting(until: until, reason: reason)
            }
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
        try await persist(round.progress(next: next, at: now))
        switch next {
        case .deferred, .waiting: log.info("email deferred", ["outcome": "deferred", "reason": "\(reason)"])
        default: log.notice("email failed", ["outcome": "failed", "reason": "\(reason)"])
        }
    }

    /// Calls the provider, turning every unexpected error into a classified failure. The
    /// provider keeps to the delivery's deadline itself (see ``EmailProvider/send(_:)``): a
    /// timer task racing every call would cost more than the rest of a fast call.
    private func call(_ route: ProviderRouter.Route, _ delivery: Delivery) async -> Result<ProviderReceipt, ProviderFailure> {
        do {
            return .success(try await route.provider.send(delivery))
        } catch let failure as ProviderFailure {
            return .failure(failure)
        } catch is CancellationError {
            return .failure(ProviderFailure(.ambiguous, code: "cancelled", message: "the call was cancelled by shutdown"))
        } catch {
            return .failure(ProviderFailure(.transient, code: "unexpected_error", message: "the provider failed with \(type(of: error))"))
        }
    }
}

/// Log lines about one email, each with its id and, once an attempt has ended, the attempt's
/// provider, number and latency. The metadata is built only for a line that is written: a
/// dispatcher logging at `warning` sends thousands of emails a second without writing any.
struct EmailLog {
    let logger: Logger
    let emailID: EmailID
    var attempt: (provider: String, number: Int, latency: Duration)?

    func info(_ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        log(.info, message, metadata())
    }

    func notice(_ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        log(.notice, message, metadata())
    }

    func warning(_ message: Logger.Message) {
        log(.warning, message, [:])
    }

    func error(_ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        log(.error, message, metadata())
    }

    private func log(_ level: Logger.Level, _ message: Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        logger.log(level: level, message, metadata: self.metadata(adding: metadata()))
    }

    private func metadata(adding extra: Logger.Metadata) -> Logger.Metadata {
        var metadata = extra
        metadata["email.id"] = "\(emailID)"
        if let attempt {
            metadata["provider"] = "\(attempt.provider)"
            metadata["attempt"] = "\(attempt.number)"
            metadata["latency_ms"] = "\(attempt.latency.milliseconds)"
        }
        return metadata
    }
}

/// What a round has done so far: the attempt numbers it used, the last failure, and the
/// providers it passed over since the last attempt, which the next attempt's history explains.
struct Round {
    let email: LeasedEmail
    /// The email's message without its suppressed recipients: what the providers get.
    let message: EmailMessage
    let policy: ProviderRouter.Policy
    private(set) var attemptsSoFar: Int
    private(set) var madeAttempt = false
    private(set) var finishedAttempt: Attempt?
    private(set) var lastFailure: ProviderFailure?
    private(set) var retryAfter: Duration?
    /// The soonest time a skipped provider may take an attempt.
    private(set) var earliestAvailable: Date?
    private var skipped: [(provider: String, skip: ProviderRouter.Skip)] = []
    private var lastFailedProvider: String?
    /// Suppressed recipients left out, until the history notes them.
    private var leftOut: [String]
    /// Recipients the last attempt's provider refused for good, until they are suppressed.
    private var refusedForGood: [RefusedRecipient] = []

    init(email: LeasedEmail, policy: ProviderRouter.Policy) {
        self.email = email
        self.message = email.message.removingRecipients(email.suppressedRecipients)
        self.policy = policy
        self.attemptsSoFar = email.attemptsSoFar
        self.leftOut = email.message.recipients.map(\.address).filter {
            email.suppressedRecipients.contains(Suppression.key(of: $0))
        }
    }

    mutating func skip(_ provider: String, because skip: ProviderRouter.Skip) {
        skipped.append((provider, skip))
        if let until = skip.until { earliestAvailable = min(earliestAvailable ?? until, until) }
    }

    mutating func nextAttemptNumber() -> Int {
        attemptsSoFar += 1
        madeAttempt = true
        return attemptsSoFar
    }

    /// Why the provider of the attempt that starts now was chosen: the policy, the failure it
    /// follows in this round, and the providers passed over, such as
    /// `priority; after primary failed (transient); skipped backup (breaker_open)`.
    mutating func routingNote() -> String {
        var parts = ["\(policy)"]
        if let lastFailedProvider, let lastFailure {
            parts.append("after \(lastFailedProvider) failed (\(lastFailure.errorClass.rawValue))")
        }
        if !skipped.isEmpty { parts.append("skipped " + skipped.map { "\($0.provider) (\($0.skip))" }.joined(separator: ", ")) }
        skipped = []
        return parts.joined(separator: "; ")
    }

    mutating func finish(_ number: Int, provider: String, startedAt: Date, latency: Duration, receipt: ProviderReceipt) {
        finishedAttempt = Attempt(
            number: number, provider: provider, startedAt: startedAt, latencyMilliseconds: Int(latency.milliseconds),
            outcome: .sent, message: receipt.refusalSummary(of: message.recipients.count), routing: routingNote())
        refusedForGood = receipt.refusedRecipients.filter { $0.failure.errorClass == .recipient }
    }

    mutating func finish(_ number: Int, provider: String, startedAt: Date, latency: Duration, failure: ProviderFailure) {
        finishedAttempt = Attempt(
            number: number, provider: provider, startedAt: startedAt, latencyMilliseconds: Int(latency.milliseconds),
            outcome: .failed, errorClass: failure.errorClass, errorCode: failure.code, message: failure.message,
            routing: routingNote())
        lastFailure = failure
        lastFailedProvider = provider
        if let after = failure.retryAfter { retryAfter = max(retryAfter ?? .zero, after) }
        if failure.errorClass == .recipient {
            // Without the provider naming the recipients, only a lone one is surely the refused one.
            let refused = failure.recipients ?? (message.recipients.count == 1 ? [message.recipients[0].address] : [])
            refusedForGood = refused.map { RefusedRecipient(address: $0, failure: failure) }
        }
    }

    /// The progress to write next; the finished attempt, the recipients left out and those
    /// refused for good go out with it exactly once.
    mutating func progress(next: DeliveryProgress.Next, at: Date) -> DeliveryProgress {
        defer {
            finishedAttempt = nil
            leftOut = []
            refusedForGood = []
        }
        return DeliveryProgress(
            emailID: email.id, leaseToken: email.leaseToken, finishedAttempt: finishedAttempt, next: next, at: at,
            suppressedRecipients: leftOut, suppressing: refusedForGood, metadataOnly: email.metadataOnly)
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

extension Result where Failure == ProviderFailure {
    var failure: ProviderFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
