import Foundation
import Testing

/// The emails a file provider delivered: one `.eml` file each time, named by the email's id.
enum Outbox {
    /// The ids of the emails delivered at least once.
    static func delivered(in outbox: URL) throws -> Set<String> {
        Set(try deliveries(in: outbox).keys)
    }

    /// The emails delivered more than once. Each must have an `ambiguous` attempt that explains
    /// why it went out again, which `query` (SQL on the store) finds.
    static func duplicates(in outbox: URL, query: (String) throws -> [String]) throws -> [String] {
        let duplicated = try deliveries(in: outbox).filter { $0.value > 1 }.map(\.key)
        if !duplicated.isEmpty {
            let explained = try query(
                """
                SELECT DISTINCT email_id FROM attempts WHERE error_class = 'ambiguous'
                    AND email_id IN (\(duplicated.map { "'\($0)'" }.joined(separator: ",")))
                """)
            #expect(Set(explained) == Set(duplicated), "every email delivered twice has an ambiguous attempt")
        }
        return duplicated
    }

    private static func deliveries(in outbox: URL) throws -> [String: Int] {
        let files = try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }
        return Dictionary(grouping: files) { String($0.prefix(26)) }.mapValues(\.count)
    }
}
