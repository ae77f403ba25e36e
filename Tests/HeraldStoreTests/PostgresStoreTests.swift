import Foundation
import HeraldCore
import HeraldStorePostgres
import HeraldTesting
import Logging
import PostgresNIO
import Testing

/// What only the PostgreSQL store has to show: that many nodes can share it.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    let logger = PostgresTestDatabase.logger

    @Test func `nodes that migrate at once leave one schema, each migration applied once`() async throws {
        try await PostgresTestDatabase.withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await PostgresEmailStore(client: client, logger: logger, timeout: PostgresTestDatabase.storeTimeout).migrate()
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await client.query("SELECT count(*) FROM herald_migrations", logger: logger)
            for try await count in rows.decode(Int.self) { #expect(count == PostgresEmailStore.migrationCount) }
        }
    }

    @Test func `emails stored before the recipient index are found by recipient once it is made`() async throws {
        try await PostgresTestDatabase.withClient { client in
            let store = PostgresEmailStore(client: client, logger: logger, timeout: PostgresTestDatabase.storeTimeout)
            try await store.migrate()
            let id = EmailID(date: Date())
            try await store.insert(NewEmail(id: id, message: .sample(), acceptedAt: Date()))
            // As a store before the index was: no table, and its migration not yet applied.
            try await client.query("DROP TABLE email_recipients", logger: logger)
            try await client.query(
                "DELETE FROM herald_migrations WHERE version = \(PostgresEmailStore.recipientsMigration)", logger: logger)
            try await store.migrate()
            #expect(try await store.emails(matching: EmailFilter(recipient: "Bob@example.com"), limit: 10, after: nil).map(\.id) == [id])
        }
    }

    @Test func `nodes leasing at once never get the same email`() async throws {
        try await PostgresTestDatabase.withStore { store in
            let now = Date(milliseconds: 1_800_000_000_000)
            let emails = (0..<200).map { _ in NewEmail(id: EmailID(date: now), message: .sample(), acceptedAt: now) }
            try await store.insert(batch: emails)
            let leased = try await withThrowingTaskGroup(of: [EmailID].self) { group in
                for node in 0..<4 {
                    group.addTask {
                        var mine: [EmailID] = []
                        while true {
                            let batch = try await store.leaseDueEmails(limit: 7, owner: "node-\(node)", now: now, duration: .seconds(60))
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(leased.count == 200)
            #expect(Set(leased) == Set(emails.map(\.id)))
        }
    }

    @Test func `a call that waits for a pooled connection gives up at the store's timeout`() async throws {
        try await PostgresTestDatabase.withClient(maximumConnections: 1) { client in
            try await PostgresEmailStore(client: client, logger: logger, timeout: PostgresTestDatabase.storeTimeout).migrate()
            let store = PostgresEmailStore(client: client, logger: logger, timeout: .milliseconds(500))
            // A listener holds the pool's only connection for as long as it listens; it calls
            // back once it has it.
            let (listening, listened) = AsyncStream<Void>.makeStream()
            let listener = Task { await store.watchForChanges { _ in listened.yield() } }
            for await _ in listening { break }
            let start = ContinuousClock.now
            await #expect(throws: StoreError.self) { _ = try await store.queueStatistics(now: Date()) }
            let took = ContinuousClock.now - start
            #expect(took >= .milliseconds(450) && took < .seconds(2), "gave up after \(took)")
            listener.cancel()
            await listener.value
        }
    }

    @Test func `keeps history append-only`() async throws {
        try await PostgresTestDatabase.withClient { client in
            let store = PostgresEmailStore(client: client, logger: logger, timeout: PostgresTestDatabase.storeTimeout)
            try await store.migrate()
            let now = Date(milliseconds: 1_800_000_000_000)
            try await store.insert(NewEmail(id: EmailID(date: now), message: .sample(), acceptedAt: now))
            await #expect(throws: PSQLError.self) { try await client.query("UPDATE events SET kind = 'sent'", logger: logger) }
            await #expect(throws: PSQLError.self) { try await client.query("DELETE FROM events", logger: logger) }
        }
    }

    @Test func `nodes draw sends from one bucket per provider`() async throws {
        try await PostgresTestDatabase.withStore { store in
            let shared = try #require(store as? PostgresEmailStore)
            let now = Date(milliseconds: 1_800_000_000_000)
            func take(at time: Date) async throws -> Date? {
                try await shared.takeSendToken(provider: "primary", ratePerSecond: 2, burst: 2, now: time)
            }
            #expect(try await take(at: now) == nil)
            #expect(try await take(at: now) == nil)
            #expect(try await take(at: now) == now.addingTimeInterval(0.5))
            #expect(try await shared.takeSendToken(provider: "secondary", ratePerSecond: 2, burst: 2, now: now) == nil)
            #expect(try await take(at: now.addingTimeInterval(0.5)) == nil)
            #expect(try await take(at: now.addingTimeInterval(0.5)) != nil)
        }
    }
}
