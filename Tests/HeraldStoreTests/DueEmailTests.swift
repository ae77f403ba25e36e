import Foundation
import HeraldCore
import HeraldStoreKit
import HeraldTesting
import Synchronization
import Testing

/// How both stores turn a lease's rows into leased emails.
struct DueEmailTests {
    func row(id: String = EmailID().rawValue, tenant: String, to addresses: [String], pending: DueEmail.PendingAttempt? = nil) -> DueEmail {
        var message = EmailMessage.sample()
        message.to = addresses.map { EmailAddress(address: $0) }
        return DueEmail(
            id: id, tenant: tenant, content: StoredContent(message), createdAt: 1_000, queuedAt: 2_000, rounds: 2, leaseToken: 7,
            attempts: 3, pendingAttempt: pending)
    }

    @Test func `a leased email is one round and one lease token on, with its tenant's suppressed recipients`() async throws {
        let rows = [
            row(tenant: "acme", to: ["Bob@Example.com", "carol@example.net"]),
            row(id: "not-an-id", tenant: "acme", to: ["dave@example.net"]),
            row(tenant: "globex", to: ["bob@example.com"]),
        ]
        let asked = Mutex<[String: Set<String>]>([:])
        let leased = try await DueEmail.leased(rows) { recipientsByTenant in
            asked.withLock { $0 = recipientsByTenant }
            return ["acme": ["bob@example.com"]]
        }
        #expect(
            asked.withLock { $0 } == ["acme": ["bob@example.com", "carol@example.net"], "globex": ["bob@example.com"]])
        #expect(leased.map(\.id.rawValue) == [rows[0].id, rows[2].id])
        #expect(leased[0].suppressedRecipients == ["bob@example.com"])
        #expect(leased[1].suppressedRecipients.isEmpty)
        #expect(leased[0].round == 3 && leased[0].leaseToken == 8 && leased[0].attemptsSoFar == 3)
        #expect(leased[0].acceptedAt == Date(milliseconds: 1_000) && leased[0].queuedAt == Date(milliseconds: 2_000))
    }

    @Test func `an interrupted attempt keeps what was recorded and fills in what was not`() {
        let recorded = InterruptedAttempt(DueEmail.PendingAttempt(number: 2, provider: "ses", startedAt: 5_000), at: 65_000)
        #expect(recorded == InterruptedAttempt(DueEmail.PendingAttempt(number: 2, provider: "ses", startedAt: 5_000), at: 65_000))
        #expect(recorded.provider == "ses" && recorded.startedAt == 5_000 && recorded.latencyMilliseconds == 60_000)
        let bare = InterruptedAttempt(DueEmail.PendingAttempt(number: 1, provider: nil, startedAt: nil), at: 65_000)
        #expect(bare.provider == InterruptedAttempt.unknownProvider && bare.startedAt == 65_000 && bare.latencyMilliseconds == 0)
        // A start time no clock wrote: no trap, no latency.
        let absurd = InterruptedAttempt(DueEmail.PendingAttempt(number: 1, provider: nil, startedAt: .min), at: 65_000)
        #expect(absurd.latencyMilliseconds == 0)
    }
}
