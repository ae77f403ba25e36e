// HeraldStoreSQLite keeps Herald's queue and history in one SQLite file: the embedded default,
// for a single Herald process.
import Foundation
import GRDB
import HeraldCore
import HeraldStoreKit

/// ``EmailStore`` on SQLite in WAL mode with `synchronous = FULL`: a write that returns has
/// reached the disk. Concurrent writes are group-committed.
///
/// Only one process may open a database file; a second one fails to open it. Because of that,
/// every lease found at start-up (of an email or a webhook message) belongs to a process that
/// is gone, and ``open(path:)`` hands them all back at once instead of waiting for them to
/// expire.
public final class SQLiteEmailStore: EmailStore {
    let pool: DatabasePool
    let groupCommit: GroupCommit<CommitTally>
    /// Nil for a store opened by ``openForKeys(path:)``.
    private let lock: FileLock?

    private init(pool: DatabasePool, lock: FileLock?) {
        self.pool = pool
        self.lock = lock
        self.groupCommit = GroupCommit(writer: pool)
    }

    /// Runs `updates` in a write transaction of its own. A write the file or the disk refuses is
    /// ``StoreError`` `unavailable`, as in group commits, so that callers wait it out and try
    /// again rather than take it for their own mistake.
    func write<Result: Sendable>(_ updates: @escaping @Sendable (Database) throws -> Result) async throws -> Result {
        do {
            return try await pool.write(updates)
        } catch {
            throw StoreError.sqliteWrite(error)
        }
    }

    /// Opens (creating if needed) the database at `path`, migrates it and reclaims the leases of
    /// the process that used it before.
    public static func open(path: String, now: Date = Date()) throws -> SQLiteEmailStore {
        guard let lock = FileLock(storeAt: path) else {
            throw StoreError(.unavailable, "another Herald process is using \(path)")
        }
        let pool = try openPool(path: path)
        try migrator.migrate(pool)
        let store = SQLiteEmailStore(pool: pool, lock: lock)
        try pool.write { db in
            try db.executeCached(
                sql: "UPDATE emails SET due_at = ?, lease_owner = NULL WHERE status = 'sending'",
                arguments: [now.milliseconds]
            )
            // Webhook messages the process before was posting: sent again now, with their ids.
            try db.executeCached(
                sql:
                    "UPDATE webhook_deliveries SET next_attempt_at = ?, lease_owner = NULL WHERE status = 'pending' AND lease_owner IS NOT NULL",
                arguments: [now.milliseconds]
            )
        }
        return store
    }

    /// Opens the database for `herald keys`, which may run beside the process that serves it:
    /// without the one-process lock, and without touching leases. Use it for the
    /// ``APIKeyStore`` methods only.
    public static func openForKeys(path: String) throws -> SQLiteEmailStore {
        let pool = try openPool(path: path)
        try migrator.migrate(pool)
        return SQLiteEmailStore(pool: pool, lock: nil)
    }

    private static func openPool(path: String) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Not mapped: mapped pages of the database count as the process's resident memory (a
        // node that had delivered 440,000 emails sat at 277 MB resident with 256 MB mapped, 53 MB
        // without), and delivering was no faster mapped (9,420 against 9,472 emails/s on this
        // 2-core machine). A lease's UPDATE of many rows keeps a statement journal; on disk that
        // was a temporary file created, written and deleted for every lease.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA mmap_size = 0")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // DatabasePool sets `synchronous = NORMAL` on the writer when it enables WAL; with
        // NORMAL a commit may be lost on power failure after the client was told 202.
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try enableIncrementalVacuumIfNew(pool)
        return pool
    }

    /// Makes a new, empty database one whose free pages can be given back to the file system a
    /// few at a time (``reclaimSpace()``), as retention removes emails. The mode is chosen
    /// before the first table, and the WAL mode set on opening has fixed it already: VACUUM of
    /// the empty file sets it again. A store made before keeps its mode; docs/operations.md says
    /// how to change it offline.
    private static func enableIncrementalVacuumIfNew(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0,
                try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != Self.incrementalVacuum
            else { return }
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            try db.execute(sql: "VACUUM")
        }
    }

    /// `PRAGMA auto_vacuum`'s value for INCREMENTAL.
    static let incrementalVacuum = 2

    /// Settings of the writer connection that durability and write costs rest on.
    public struct WriterSettings: Sendable {
        /// `PRAGMA synchronous`: 2 is FULL.
        public let synchronous: Int
        /// `PRAGMA temp_store`: 2 is MEMORY.
        public let temporaryStorage: Int
        /// `PRAGMA auto_vacuum`: 2 is INCREMENTAL.
        public let autoVacuum: Int
    }

    public func writerSettings() throws -> WriterSettings {
        try pool.writeWithoutTransaction { db in
            WriterSettings(
                synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                temporaryStorage: try Int.fetchOne(db, sql: "PRAGMA temp_store") ?? -1,
                autoVacuum: try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? -1)
        }
    }

    /// The database's size in pages, and how many of them are free: space removed rows left
    /// behind, which ``reclaimSpace()`` gives back to the file system.
    public struct FileSizes: Sendable {
        public let pages: Int
        public let freePages: Int
    }

    public func fileSizes() throws -> FileSizes {
        try pool.read { db in
            FileSizes(
                pages: try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0,
                freePages: try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0)
        }
    }

    public func insert(_ email: NewEmail) async throws {
        try await insert(batch: [email])
    }

    public func insert(batch emails: [NewEmail]) async throws {
        try await insert(batch: emails) { _ in }
    }

    /// The `tags` column: a JSON array for `json_each` to search, or NULL for none.
    private static func tagsColumn(_ tags: [String]) -> String? {
        guard !tags.isEmpty, let json = try? JSONEncoder().encode(tags) else { return nil }
        return String(decoding: json, as: UTF8.self)
    }

    /// Inserts `emails` and runs `alongside` in the same transaction.
    func insert(batch emails: [NewEmail], alongside: @escaping @Sendable (Database) throws -> Void) async throws {
        let rows = emails.map { (email: $0, content: StoredContent($0.message), tags: Self.tagsColumn($0.message.tags)) }
        try await groupCommit.perform { db, tally in
            try alongside(db)
            // Looked up once per tenant of the batch, not once per email.
            var endpoints: [String: [WebhookColumns.Target]] = [:]
            for tenant in Set(rows.map(\.email.tenant)) { endpoints[tenant] = try Self.webhookEndpoints(of: tenant, in: db) }
            for (email, content, tags) in rows {
                let at = email.acceptedAt.milliseconds
                let id = email.id.rawValue
                // A scheduled email is due at its time (one scheduled in the past is due now), and
                // its retries' maximum age counts from then.
                let due = max(at, email.sendAt?.milliseconds ?? at)
                try db.executeCached(
                    sql: """
                        INSERT INTO emails (
                            id, status, created_at, queued_at, updated_at, due_at, next_attempt_at, send_at, tenant, metadata_only)
                        VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [id, at, due, at, due, due, email.sendAt?.milliseconds, email.tenant, email.metadataOnly]
                )
                try db.executeCached(
                    sql: "INSERT INTO email_contents (email_id, message, text, html, tags) VALUES (?, ?, ?, ?, ?)",
                    arguments: [id, content.fields, content.text, content.html, tags])
                for address in email.message.recipientKeys {
                    try db.executeCached(sql: "INSERT INTO email_recipients (address, email_id) VALUES (?, ?)", arguments: [address, id])
                }
                try Self.appendEvent(db, emailID: id, kind: .queued, at: at)
                tally.count(.accepted, at: email.acceptedAt)
                try Self.enqueueWebhooks(
                    [WebhookTrigger(type: .queued, emailID: email.id, at: email.acceptedAt)], tenant: email.tenant,
                    endpoints: endpoints[email.tenant] ?? [], message: email.message, in: db)
            }
        }
    }

    public func email(_ id: EmailID, tenant: String?) async throws -> EmailDetail? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT * FROM emails JOIN email_contents ON email_contents.email_id = emails.id
                        WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)
                        """,
                    arguments: [id.rawValue, tenant])
            else { return nil }
            let attempts = try Row.fetchAll(
                db, sql: "SELECT * FROM attempts WHERE email_id = ? ORDER BY number", arguments: [id.rawValue]
            ).map(Self.attempt(from:))
            let events = try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE email_id = ? ORDER BY seq", arguments: [id.rawValue]
            ).map(Self.event(from:))
            let nextAttempt: Int64? = row["next_attempt_at"]
            return EmailDetail(
                id: id,
                tenant: row["tenant"],
                status: EmailStatus(rawValue: row["status"]) ?? .failed,
                createdAt: Date(milliseconds: row["created_at"]),
                updatedAt: Date(milliseconds: row["updated_at"]),
                nextAttemptAt: nextAttempt.map(Date.init(milliseconds:)),
                provider: row["provider"],
                providerMessageID: row["provider_message_id"],
                failureReason: row["failure_reason"],
                sendAt: (row["send_at"] as Int64?).map(Date.init(milliseconds:)),
                message: try StoredContent(row: row).message(),
                attempts: attempts,
                events: events,
                providerEvents: try Self.providerEvents(of: id.rawValue, in: db),
                recipients: try Self.recipientStates(of: id.rawValue, in: db),
                contentRemovedAt: (row["content_removed_at"] as Int64?).map(Date.init(milliseconds:))
            )
        }
    }

    public func activity(since: Date) async throws -> [ActivityCount] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT minute, kind, count FROM activity_minutes WHERE minute >= ? ORDER BY minute, kind",
                arguments: [ActivityMinutes.minute(of: since)]
            ).compactMap { row in
                ActivityKind(rawValue: row["kind"]).map {
                    ActivityCount(minute: Date(timeIntervalSince1970: Double(row["minute"] as Int64) * 60), kind: $0, count: row["count"])
                }
            }
        }
    }

    public func emails(matching filter: EmailFilter, limit: Int, after cursor: EmailID?) async throws -> [EmailSummary] {
        // By recipient, the address's range of the index leads, newest first, and each email is
        // joined by its primary key: a page costs its rows, however many emails the address has.
        let (source, key) =
            filter.recipient == nil ? ("emails", "emails.id") : ("email_recipients JOIN emails ON emails.id = email_id", "email_id")
        var (conditions, arguments) = Self.conditions(of: filter, in: nil, recipientsJoined: filter.recipient != nil)
        if let cursor {
            conditions.append("\(key) < ?")
            arguments += [cursor.rawValue]
        }
        let filtering = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [limit]
        let sql = """
            SELECT emails.id, status, created_at, updated_at, provider FROM \(source) \(filtering) ORDER BY \(key) DESC LIMIT ?
            """
        let query = (sql: sql, arguments: arguments)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: query.sql, arguments: query.arguments).compactMap { row in
                guard let id = EmailID(row["id"] as String) else { return nil }
                return EmailSummary(
                    id: id,
                    status: EmailStatus(rawValue: row["status"]) ?? .failed,
                    createdAt: Date(milliseconds: row["created_at"]),
                    updatedAt: Date(milliseconds: row["updated_at"]),
                    provider: row["provider"]
                )
            }
        }
    }

    public func retry(_ id: EmailID, tenant: String?, now: Date) async throws {
        try await transition(id, tenant: tenant, from: EmailStatus.retryable, now: now, event: .retried, update: Self.requeue)
    }

    public func cancel(_ id: EmailID, tenant: String?, now: Date) async throws {
        try await transition(id, tenant: tenant, from: EmailStatus.cancellable, now: now, event: .cancelled, update: Self.cancel)
    }

    public func retry(matching filter: EmailFilter, now: Date) async throws -> Int {
        try await transitionAll(matching: filter, from: EmailStatus.retryable, now: now, event: .retried, update: Self.requeue)
    }

    public func cancel(matching filter: EmailFilter, now: Date) async throws -> Int {
        try await transitionAll(matching: filter, from: EmailStatus.cancellable, now: now, event: .cancelled, update: Self.cancel)
    }

    /// A retried email starts afresh: due now, its maximum age counted from now, and its
    /// redrives counted again from none.
    private static func requeue(_ db: Database, id: String, at: Int64) throws {
        try queueAgain(db, id: id, at: at, redriven: false)
    }

    /// Queues a failed email again, as a retry by hand or, `redriven`, by the redrive policy,
    /// which counts it rather than starting the count afresh.
    private static func queueAgain(_ db: Database, id: String, at: Int64, redriven: Bool) throws {
        try db.executeCached(
            sql: """
                UPDATE emails SET status = 'queued', queued_at = ?1, updated_at = ?1, due_at = ?1, next_attempt_at = ?1, rounds = 0,
                    failure_reason = NULL, failure_class = NULL, redrives = CASE WHEN ?3 THEN redrives + 1 ELSE 0 END
                WHERE id = ?2
                """,
            arguments: [at, id, redriven]
        )
    }

    public func redrive(_ selection: RedriveSelection, now: Date) async throws -> Int {
        let classes = selection.errorClasses.subtracting(RedrivePolicy.neverRedriven).map(\.rawValue).sorted()
        guard !classes.isEmpty, selection.redrivenFewerThan > 0 else { return 0 }
        // `created_at` leads, through the partial index of failed emails: a redrive reads only
        // the failed emails young enough, however many older ones the store keeps.
        let select = """
            SELECT id FROM emails
            WHERE status = 'failed' AND created_at > ? AND updated_at < ? AND redrives < ? AND content_removed_at IS NULL
                AND failure_class IN (\(databaseQuestionMarks(count: classes.count))) AND id > ?
            ORDER BY id LIMIT \(EmailFilter.emailsPerTransaction)
            """
        let filter: StatementArguments =
            [selection.acceptedAfter.milliseconds, selection.failedBefore.milliseconds, selection.redrivenFewerThan]
            + StatementArguments(classes)
        let at = now.milliseconds
        return try await EmailFilter.moveInPages { after in
            try await write { db in
                let ids = try String.fetchAll(db, sql: select, arguments: filter + [after])
                for id in ids {
                    try Self.queueAgain(db, id: id, at: at, redriven: true)
                    try Self.appendEvent(db, emailID: id, kind: .redriven, at: at, detail: selection.reason)
                }
                return ids
            }
        }
    }

    private static func cancel(_ db: Database, id: String, at: Int64) throws {
        try db.executeCached(
            sql: "UPDATE emails SET status = 'cancelled', updated_at = ?1, due_at = NULL, next_attempt_at = NULL WHERE id = ?2",
            arguments: [at, id]
        )
        if let emailID = EmailID(id) {
            try enqueueWebhooks([WebhookTrigger(type: .cancelled, emailID: emailID, at: Date(milliseconds: at))], in: db)
        }
    }

    public func count(matching filter: EmailFilter, in statuses: Set<EmailStatus>) async throws -> Int {
        guard let (conditions, arguments) = Self.conditions(of: filter, in: statuses) else { return 0 }
        return try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM emails WHERE " + conditions, arguments: arguments) ?? 0
        }
    }

    /// Moves every email that matches `filter` and is in one of the `allowed` states, each with
    /// its event, in transactions of ``EmailFilter/emailsPerTransaction`` in id order: each
    /// email once, and group commits of accepted emails take their turns in between.
    private func transitionAll(
        matching filter: EmailFilter, from allowed: Set<EmailStatus>, now: Date, event: EmailEvent.Kind,
        update: @escaping @Sendable (Database, String, Int64) throws -> Void
    ) async throws -> Int {
        guard let (conditions, arguments) = Self.conditions(of: filter, in: allowed) else { return 0 }
        let sql = "SELECT id FROM emails WHERE \(conditions) AND id > ? ORDER BY id LIMIT \(EmailFilter.emailsPerTransaction)"
        let at = now.milliseconds
        return try await EmailFilter.moveInPages { after in
            // A rare operator's request: transactions of its own rather than shares of group commits.
            try await write { db in
                let ids = try String.fetchAll(db, sql: sql, arguments: arguments + [after])
                for id in ids {
                    try update(db, id, at)
                    try Self.appendEvent(db, emailID: id, kind: event, at: at)
                }
                return ids
            }
        }
    }

    /// The conditions, joined by `AND`, with their arguments, of the emails a bulk operation may
    /// move: they match `filter`, are in one of `allowed` and still have their content; nil
    /// when no status is both allowed and asked for.
    private static func conditions(of filter: EmailFilter, in allowed: Set<EmailStatus>) -> (String, StatementArguments)? {
        guard allowed.contains(where: { filter.status == nil || filter.status == $0 }) else { return nil }
        let (conditions, arguments) = conditions(of: filter, in: allowed, recipientsJoined: false)
        // An email whose content retention removed has nothing left to send.
        return ((conditions + ["content_removed_at IS NULL"]).joined(separator: " AND "), arguments)
    }

    /// The conditions of ``conditions(of:in:)``, one by one. With `recipientsJoined`, the query
    /// reads `email_recipients` joined to `emails`, and the recipient is a condition on its rows.
    /// Tag and provider are checked email by email, so that a newest-first page reads only the
    /// emails up to its last match rather than every email with the tag.
    private static func conditions(
        of filter: EmailFilter, in allowed: Set<EmailStatus>?, recipientsJoined: Bool
    ) -> (conditions: [String], arguments: StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let allowed {
            let statuses = allowed.filter { filter.status == nil || filter.status == $0 }.map(\.rawValue).sorted()
            conditions.append("status IN (\(statuses.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(statuses)
        } else if let status = filter.status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        if let recipient = filter.recipient {
            conditions.append(recipientsJoined ? "address = ?" : "emails.id IN (SELECT email_id FROM email_recipients WHERE address = ?)")
            arguments += [EmailMessage.recipientKey(of: recipient)]
        }
        if let tenant = filter.tenant {
            conditions.append("tenant = ?")
            arguments += [tenant]
        }
        if let provider = filter.provider {
            conditions.append(
                """
                (provider = ? OR pending_provider = ?
                    OR EXISTS (SELECT 1 FROM attempts WHERE attempts.email_id = emails.id AND attempts.provider = ?))
                """)
            arguments += [provider, provider, provider]
        }
        if let after = filter.createdAfter {
            conditions.append("created_at >= ?")
            arguments += [after.milliseconds]
        }
        if let before = filter.createdBefore {
            conditions.append("created_at < ?")
            arguments += [before.milliseconds]
        }
        if let tag = filter.tag {
            conditions.append(
                """
                EXISTS (SELECT 1 FROM email_contents, json_each(email_contents.tags)
                    WHERE email_contents.email_id = emails.id AND json_each.value = ?)
                """)
            arguments += [tag]
        }
        return (conditions, arguments)
    }

    private func transition(
        _ id: EmailID,
        tenant: String?,
        from allowed: Set<EmailStatus>,
        now: Date,
        event: EmailEvent.Kind,
        update: @escaping @Sendable (Database, String, Int64) throws -> Void
    ) async throws {
        let at = now.milliseconds
        try await groupCommit.perform { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT status, content_removed_at FROM emails WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
                    arguments: [id.rawValue, tenant]),
                let status = EmailStatus(rawValue: row["status"])
            else { throw StoreError.notFound }
            guard allowed.contains(status) else {
                throw StoreError(.invalidTransition, "the email is \(status.rawValue)")
            }
            guard row["content_removed_at"] as Int64? == nil else { throw StoreError.contentRemoved }
            try update(db, id.rawValue, at)
            try Self.appendEvent(db, emailID: id.rawValue, kind: event, at: at)
        }
    }

    public func releaseLeases(owner: String, except held: Set<EmailID>, now: Date) async throws {
        let at = now.milliseconds
        let held = held.map(\.rawValue)
        try await groupCommit.perform { db in
            try db.execute(
                sql: """
                    UPDATE emails SET due_at = ?, lease_owner = NULL WHERE status = 'sending' AND lease_owner = ?
                        AND id NOT IN (SELECT value FROM json_each(?))
                    """,
                arguments: [at, owner, String(decoding: try JSONEncoder().encode(held), as: UTF8.self)]
            )
        }
    }

    /// Commits a write to the main database that needs new pages, as an email's would: a row
    /// of two pages, deleted in the same transaction. A full disk, a database at its size limit
    /// or a read-only file fails it, as it fails accepting emails.
    public func checkWritable() async throws {
        try await groupCommit.perform { db in
            try db.execute(
                sql: """
                    INSERT INTO readiness_probe (payload) VALUES (zeroblob(2 * (SELECT page_size FROM pragma_page_size())));
                    DELETE FROM readiness_probe
                    """)
        }
    }

    static func appendEvent(
        _ db: Database, emailID: String, kind: EmailEvent.Kind, at: Int64,
        attempt: Int? = nil, provider: String? = nil, detail: String? = nil
    ) throws {
        try db.run(
            "INSERT INTO events (email_id, kind, at, attempt, provider, detail) VALUES (?, ?, ?, ?, ?, ?)",
            .text(emailID), .text(kind.rawValue), .integer(at), .integer(attempt), .text(provider), .text(detail)
        )
    }

    private static func attempt(from row: Row) -> Attempt {
        let errorClass: String? = row["error_class"]
        return Attempt(
            number: row["number"],
            provider: row["provider"],
            startedAt: Date(milliseconds: row["started_at"]),
            latencyMilliseconds: row["latency_ms"],
            outcome: Attempt.Outcome(rawValue: row["outcome"]) ?? .failed,
            errorClass: errorClass.flatMap(ErrorClass.init(rawValue:)),
            errorCode: row["error_code"],
            message: row["message"],
            routing: row["routing"]
        )
    }

    private static func event(from row: Row) -> EmailEvent {
        EmailEvent(
            kind: EmailEvent.Kind(rawValue: row["kind"]) ?? .queued,
            at: Date(milliseconds: row["at"]),
            attempt: row["attempt"],
            provider: row["provider"],
            detail: row["detail"]
        )
    }
}

extension Database {
    /// Executes one statement through the connection's statement cache, so that the SQL of the
    /// hot paths is compiled once per connection rather than once per email.
    func executeCached(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension StoreError {
    /// A write the file or the disk refused (full, read-only, failing, locked) may succeed
    /// later: it is the store being unavailable, which callers wait out and try again. So is a
    /// write that broke a constraint (an email id stored already): nothing of it was stored,
    /// which is what the caller must learn, as from PostgreSQL. Other errors (an operation's
    /// own, such as a lost lease) pass as they are.
    static func sqliteWrite(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode.primaryResultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(.unavailable, "SQLite could not write: \(error.resultCode)")
        case .SQLITE_CONSTRAINT:
            return StoreError(.unavailable, "SQLite refused the write: \(error.resultCode)")
        default:
            return error
        }
    }
}
