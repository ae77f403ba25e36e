import Foundation
import GRDB
import HeraldCore

extension SQLiteEmailStore {
    public func queueStatistics(now: Date) async throws -> QueueStatistics {
        let at = now.milliseconds
        return try await pool.read { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: Self.queueStatisticsSQL), arguments: [at])
            let oldestDueAt: Int64? = row?["oldest_due_at"]
            return QueueStatistics(
                emailsByStatus: [
                    .queued: row?["queued"] ?? 0,
                    .sending: row?["sending"] ?? 0,
                    .deferred: row?["deferred"] ?? 0,
                ],
                oldestDueAt: oldestDueAt.map(Date.init(milliseconds:))
            )
        }
    }

    /// Each count searches `emails_status` for one status, and the oldest due time is the first
    /// entry of `emails_due`, so that a scrape costs the same however many emails are final.
    static let queueStatisticsSQL = """
        SELECT
            (SELECT COUNT(*) FROM emails WHERE status = 'queued') AS queued,
            (SELECT COUNT(*) FROM emails WHERE status = 'sending') AS sending,
            (SELECT COUNT(*) FROM emails WHERE status = 'deferred') AS deferred,
            (SELECT MIN(due_at) FROM emails WHERE due_at <= ?) AS oldest_due_at
        """
}
