import GRDB
import Testing

@testable import HeraldStoreSQLite

@Suite("Database.run")
struct DatabaseRunTests {
    private func withTable<T>(_ body: (Database) throws -> T) throws -> T {
        let queue = try DatabaseQueue()
        return try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, number INTEGER, word TEXT NOT NULL, note TEXT)")
            return try body(db)
        }
    }

    @Test func `binds every kind of value by position, and runs the cached statement again with new ones`() throws {
        let rows = try withTable { db in
            let insert = "INSERT INTO t (id, number, word, note) VALUES (?, ?, ?, ?)"
            try db.run(insert, .integer(1), .integer(Int64.max), .text("café ✉️"), .null)
            try db.run(insert, .integer(2), .integer(-7), .text("a\0b"), .text(nil as String?))
            return try Row.fetchAll(db, sql: "SELECT number, word, note, length(CAST(word AS BLOB)) AS bytes FROM t ORDER BY id")
        }
        #expect(rows[0]["number"] == Int64.max)
        #expect(rows[0]["word"] == "café ✉️")
        #expect(rows[0]["note"] == nil as String?)
        #expect(rows[1]["number"] == -7)
        // All three bytes are stored, the NUL included (GRDB reads text only up to a NUL).
        #expect(rows[1]["bytes"] == 3)
    }

    @Test func `an empty string is bound as text, not as NULL`() throws {
        let word = try withTable { db in
            try db.run("INSERT INTO t (id, word) VALUES (?, ?)", .integer(1), .text(""))
            return try String.fetchOne(db, sql: "SELECT word FROM t WHERE note IS NULL AND word IS NOT NULL")
        }
        #expect(word == "")
    }

    @Test func `a failing statement throws SQLite's error, and the statement runs again afterwards`() throws {
        let count = try withTable { db in
            let insert = "INSERT INTO t (id, word) VALUES (?, ?)"
            try db.run(insert, .integer(1), .text("first"))
            #expect {
                try db.run(insert, .integer(1), .text("again"))
            } throws: { error in
                (error as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT
            }
            #expect(throws: DatabaseError.self) { try db.run(insert, .integer(2), .null) }
            try db.run(insert, .integer(3), .text("third"))
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t")
        }
        #expect(count == 2)
    }
}
