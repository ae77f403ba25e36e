import GRDB
import HeraldCore
import Synchronization

/// Folds writes that arrive together into one transaction, so that many callers share one
/// fsync instead of paying one each.
///
/// An operation that throws is rolled back and its caller gets the error, while the rest of
/// the batch commits. Callers resume only after the commit.
///
/// Operations may also add to the batch's `Tally`, which is written once at the end of the
/// batch's transaction: a row that every operation would update (a counter) is then updated
/// once per batch rather than once per operation.
final class GroupCommit<Tally: BatchTally>: Sendable {
    typealias Operation = @Sendable (Database, inout Tally) throws -> Void

    private struct Pending {
        let operation: Operation
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var isDraining = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let transactions = Atomic<Int>(0)

    /// Batches run so far, one transaction each; with concurrent writers, far fewer than
    /// operations.
    var transactionCount: Int { transactions.load(ordering: .relaxed) }

    /// Operations waiting for the next batch.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Runs `operation` in the next batch and returns once that batch is durable.
    func perform(_ operation: @escaping @Sendable (Database) throws -> Void) async throws {
        try await perform { db, _ in try operation(db) }
    }

    /// Runs `operation` in the next batch and returns what it returned once that batch is
    /// durable. Should the batch be run again (another operation failed), the result is that
    /// of the run that committed.
    func perform<Result: Sendable>(returning operation: @escaping @Sendable (Database) throws -> Result) async throws -> Result {
        let result = Mutex<Result?>(nil)
        try await perform { db, _ in
            let value = try operation(db)
            result.withLock { $0 = value }
        }
        return result.withLock { $0! }
    }

    /// Runs `operation`, which may add to the batch's tally, in the next batch and returns
    /// once that batch is durable.
    func perform(_ operation: @escaping Operation) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startsDrain = state.withLock { state in
                state.pending.append(Pending(operation: operation, continuation: continuation))
                guard !state.isDraining else { return false }
                state.isDraining = true
                return true
            }
            if startsDrain { scheduleBatch() }
        }
    }

    /// Queues the next batch on the writer's own queue. Batches follow one another there
    /// without a trip through the task executor in between: that trip waited behind every
    /// other task of a busy process, and the writer stood still meanwhile. Each batch is a
    /// queue item of its own, so that other writes (leases) take their turns between batches.
    /// No task owns the drain: a batch holds writes of many callers and commits even when the
    /// caller that started it is cancelled.
    private func scheduleBatch() {
        writer.asyncWriteWithoutTransaction { db in
            let batch = self.state.withLock { state -> [Pending] in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.isDraining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let results = Self.commit(batch.map(\.operation), in: db)
            self.transactions.add(1, ordering: .relaxed)
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result.mapError(StoreError.sqliteWrite))
            }
            self.scheduleBatch()
        }
    }

    /// Runs the batch in one transaction. The common case, where every operation succeeds,
    /// pays for no savepoints; when one fails, the transaction is rolled back and the batch is
    /// run again with a savepoint around each operation, so that only the failing ones fail.
    private static func commit(_ operations: [Operation], in db: Database) -> [Result<Void, any Error>] {
        do {
            try db.inTransaction {
                var tally = Tally()
                for operation in operations { try operation(db, &tally) }
                try tally.write(to: db)
                return .commit
            }
            return Array(repeating: .success(()), count: operations.count)
        } catch {
            var results: [Result<Void, any Error>] = []
            do {
                try db.inTransaction {
                    var tally = Tally()
                    results = operations.map { operation in
                        Result {
                            // A failing operation's additions go with its savepoint.
                            var added = tally
                            try db.inSavepoint {
                                try operation(db, &added)
                                return .commit
                            }
                            tally = added
                        }
                    }
                    try tally.write(to: db)
                    return .commit
                }
                return results
            } catch {
                return Array(repeating: .failure(error), count: operations.count)
            }
        }
    }
}

/// What the operations of one ``GroupCommit`` batch add up, written at the end of its
/// transaction.
protocol BatchTally: Sendable {
    init()
    func write(to db: Database) throws
}
