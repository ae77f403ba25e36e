import GRDB
import GRDBSQLite

/// A value for one parameter of a statement run by ``GRDB/Database/run(_:_:)``.
enum SQLArgument {
    case integer(Int64)
    case text(String)
    case null

    static func integer(_ value: Int?) -> SQLArgument { value.map { .integer(Int64($0)) } ?? .null }

    static func integer(_ value: Int64?) -> SQLArgument { value.map { .integer($0) } ?? .null }

    static func text(_ value: String?) -> SQLArgument { value.map { .text($0) } ?? .null }
}

extension Database {
    /// Runs a statement that returns no rows, with `arguments` bound to its parameters in order
    /// through SQLite's C API, on the statement that GRDB prepared and keeps in its cache.
    ///
    /// For the statements that every email's delivery runs. GRDB's `execute(arguments:)` turns
    /// the arguments into an array of existentials, checks them, and tells its observers before
    /// and after each call, which for these short statements cost more than SQLite's own work.
    /// Herald observes no database region, and runs these only inside transactions that GRDB
    /// opened, so nothing GRDB tracks is missed.
    func run(_ sql: String, _ arguments: SQLArgument...) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        // The code returned is that of the statement's last run, which has been dealt with.
        sqlite3_reset(statement)
        for (offset, argument) in arguments.enumerated() {
            let index = CInt(offset + 1)
            let code: CInt
            switch argument {
            case .integer(let value):
                code = sqlite3_bind_int64(statement, index, value)
            case .text(var value):
                code = value.withUTF8 { bytes in
                    // A null pointer would bind NULL: an empty string needs one of its own.
                    let text = bytes.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(Self.emptyText.utf8Start)
                    return sqlite3_bind_text(statement, index, text.assumingMemoryBound(to: CChar.self), CInt(bytes.count), transient)
                }
            case .null:
                code = sqlite3_bind_null(statement, index)
            }
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: sql)
            }
        }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: sql) }
    }

    private static let emptyText: StaticString = ""
}

/// SQLite copies a value bound with this destructor, so the Swift string may go away after.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
