import GRDB
import Synchronization

/// Folds writes that arrive together into one transaction, so that many callers share one
/// fsync instead of paying one each.
///
/// An operation that throws is rolled back and its caller gets the error, while the rest of
/// the batch commits. Callers resume only after the commit.
final class GroupCommit: Sendable {
    typealias Operation = @Sendable (Database) throws -> Void

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

    /// Transactions committed so far; with concurrent writers, far fewer than operations.
    var transactionCount: Int { transactions.load(ordering: .relaxed) }

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Runs `operation` in the next batch and returns once that batch is durable.
    func perform(_ operation: @escaping Operation) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startsDrain = state.withLock { state in
                state.pending.append(Pending(operation: operation, continuation: continuation))
                guard !state.isDraining else { return false }
                state.isDraining = true
                return true
            }
            if startsDrain {
                // One drain task at most exists at a time (guarded by `isDraining`). It is
                // unstructured on purpose: a batch holds writes of many callers and must commit
                // even when the caller that happened to start it is cancelled.
                Task { await self.drain() }
            }
        }
    }

    /// Runs the batch in one transaction. The common case, where every operation succeeds,
    /// pays for no savepoints; when one fails, the transaction is rolled back and the batch is
    /// run again with a savepoint around each operation, so that only the failing ones fail.
    private func commit(_ operations: [Operation]) async throws -> [Result<Void, any Error>] {
        do {
            return try await writer.write { db in
                for operation in operations { try operation(db) }
                return Array(repeating: .success(()), count: operations.count)
            }
        } catch {
            return try await writer.write { db in
                operations.map { operation in
                    Result {
                        try db.inSavepoint {
                            try operation(db)
                            return .commit
                        }
                    }
                }
            }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.isDraining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let operations = batch.map(\.operation)
            let results: [Result<Void, any Error>]
            do {
                results = try await commit(operations)
                transactions.add(1, ordering: .relaxed)
            } catch {
                results = Array(repeating: .failure(error), count: batch.count)
            }
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result)
            }
        }
    }
}
