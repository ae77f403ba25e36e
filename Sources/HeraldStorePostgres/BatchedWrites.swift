import Synchronization

/// Folds writes that arrive together into one batched write, so that concurrent requests share
/// a statement and a commit instead of paying one each: PostgreSQL's cost per email is mostly
/// round trips and statement overhead, not the rows.
///
/// At most `lanes` batches are written at once, each on its own connection; requests that
/// arrive meanwhile wait for the next batch of a lane, which takes all of them up to
/// `itemsPerBatch` items. When the database refuses a batch of several requests (``RefusedBatch``),
/// each is written again on its own, so that one bad request fails alone; any other failure (a
/// timeout, a lost server) fails the whole batch at once, as writing them one by one would fail
/// each after its own wait. Callers resume once their batch has committed.
final class BatchedWrites<Item: Sendable>: Sendable {
    /// Writes a batch's items within `timeLeft` and returns, for each, the error that kept it
    /// from being written (a lost lease), or nil; throws when the batch as a whole failed.
    typealias Write = @Sendable (_ items: [Item], _ timeLeft: Duration) async throws -> [(any Error)?]

    private struct Request {
        let items: [Item]
        let arrived: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// Decides which requests go into the next batch; the caller then writes it.
    private struct State {
        var waiting: [Request] = []
        var busyLanes = 0

        /// The next batch for a free lane, or nil when none is free or nothing waits.
        mutating func nextBatch(lanes: Int, itemsPerBatch: Int) -> [Request]? {
            guard busyLanes < lanes, !waiting.isEmpty else { return nil }
            busyLanes += 1
            return takeBatch(itemsPerBatch: itemsPerBatch)
        }

        /// The batch after one a lane has written, or nil (and the lane is free) when none waits.
        mutating func batchAfterWrite(itemsPerBatch: Int) -> [Request]? {
            guard !waiting.isEmpty else {
                busyLanes -= 1
                return nil
            }
            return takeBatch(itemsPerBatch: itemsPerBatch)
        }

        /// Requests in arrival order up to `itemsPerBatch` items, and always at least one.
        private mutating func takeBatch(itemsPerBatch: Int) -> [Request] {
            var count = 0
            var taken = 0
            while taken < waiting.count, taken == 0 || count + waiting[taken].items.count <= itemsPerBatch {
                count += waiting[taken].items.count
                taken += 1
            }
            defer { waiting.removeFirst(taken) }
            return Array(waiting.prefix(taken))
        }
    }

    private let state = Mutex(State())
    private let lanes: Int
    private let itemsPerBatch: Int
    private let timeout: Duration
    private let write: Write

    /// Each request is answered within `timeout` of its arrival (and the little it takes to
    /// notice), the wait for its batch's turn included: a batch gets the time its oldest
    /// request has left.
    init(lanes: Int, itemsPerBatch: Int, timeout: Duration, write: @escaping Write) {
        self.lanes = max(1, lanes)
        self.itemsPerBatch = max(1, itemsPerBatch)
        self.timeout = timeout
        self.write = write
    }

    /// Writes `items` in the next batch and returns once it has committed.
    ///
    /// A cancelled caller still waits: its items may be in a batch already on its way, and
    /// only the batch's end tells whether they were stored. The timeout bounds the wait.
    func perform(_ items: [Item]) async throws {
        let arrived = ContinuousClock.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let batch = state.withLock { state in
                state.waiting.append(Request(items: items, arrived: arrived, continuation: continuation))
                return state.nextBatch(lanes: lanes, itemsPerBatch: itemsPerBatch)
            }
            if let batch { startLane(with: batch) }
        }
    }

    /// Writes `batch`, then the batches that wait behind it, until none does. No caller's task
    /// owns the lane: a batch holds the writes of many callers and ends even when the caller
    /// that started it is cancelled.
    private func startLane(with batch: [Request]) {
        Task {
            var batch = batch
            while true {
                await writeResuming(batch)
                guard let next = state.withLock({ $0.batchAfterWrite(itemsPerBatch: itemsPerBatch) }) else { return }
                batch = next
            }
        }
    }

    private func writeResuming(_ batch: [Request]) async {
        do {
            let oldest = batch.map(\.arrived).min() ?? .now
            var failures = try await write(batch.flatMap(\.items), timeLeft(since: oldest))[...]
            for request in batch {
                Self.resume(request, failures: failures.prefix(request.items.count))
                failures = failures.dropFirst(request.items.count)
            }
        } catch is RefusedBatch where batch.count > 1 {
            for request in batch {
                do {
                    Self.resume(request, failures: try await write(request.items, timeLeft(since: request.arrived))[...])
                } catch {
                    request.continuation.resume(throwing: Self.reported(error))
                }
            }
        } catch {
            for request in batch { request.continuation.resume(throwing: Self.reported(error)) }
        }
    }

    private func timeLeft(since arrival: ContinuousClock.Instant) -> Duration {
        timeout - (ContinuousClock.now - arrival)
    }

    /// Resumes `request` with the first of its items' failures, or as written.
    private static func resume(_ request: Request, failures: ArraySlice<(any Error)?>) {
        if let failure = failures.lazy.compactMap({ $0 }).first {
            request.continuation.resume(throwing: failure)
        } else {
            request.continuation.resume()
        }
    }

    private static func reported(_ error: any Error) -> any Error {
        (error as? RefusedBatch)?.error ?? error
    }
}

/// Thrown by a batched write that the database refused because of something in the batch (a
/// constraint), rather than could not make; `error` is what the batch's callers get.
struct RefusedBatch: Error {
    let error: any Error
}
