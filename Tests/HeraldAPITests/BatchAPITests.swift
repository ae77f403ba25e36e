import Foundation
import HeraldAPI
import HeraldCore
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeraldServer
@testable import HeraldStoreSQLite

@Suite("Batch API")
struct BatchAPITests {
    static func batch(_ emails: [String]) -> String {
        #"{"emails": [\#(emails.joined(separator: ","))]}"#
    }

    static let invalid = #"{"from": "not an address", "to": [], "text": "x"}"#

    @Test func `queues every email of a batch in one commit and answers each one's id by index`() async throws {
        try await APIHarness.run { harness, client in
            let before = harness.store.groupCommit.transactionCount
            let response = try await client.post(
                "/v1/emails/batch", json: Self.batch(Array(repeating: APIFixtures.validEmail, count: 100)))
            #expect(response.status == .accepted)
            #expect(harness.store.groupCommit.transactionCount - before == 1, "one durable commit for the batch")
            let data = try #require(response.json["data"] as? [[String: Any]])
            #expect(data.map { $0["index"] as? Int } == Array(0..<100))
            for entry in data {
                let id = try #require((entry["id"] as? String).flatMap(EmailID.init))
                #expect(try await harness.store.email(id)?.status == .queued)
            }
            #expect((response.json["errors"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func `strict validation refuses the whole batch and names each problem by index`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.post(
                "/v1/emails/batch", json: Self.batch([APIFixtures.validEmail, Self.invalid, "42"]))
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == ["emails[1].from: invalid_address", "emails[1].to: required", "emails[2]: invalid_type"])
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).isEmpty, "nothing was queued")
        }
    }

    @Test func `permissive validation queues the valid emails and lists the others`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.post(
                "/v1/emails/batch?validation=permissive", json: Self.batch([Self.invalid, APIFixtures.validEmail]))
            #expect(response.status == .accepted)
            let data = try #require(response.json["data"] as? [[String: Any]])
            #expect(data.map { $0["index"] as? Int } == [1])
            let errors = try #require(response.json["errors"] as? [[String: Any]])
            #expect(Set(errors.compactMap { $0["field"] as? String }) == ["emails[0].from", "emails[0].to"])
            #expect(try await harness.store.emails(status: .queued, limit: 10, after: nil).count == 1)

            let nothingValid = try await client.post("/v1/emails/batch?validation=permissive", json: Self.batch([Self.invalid]))
            #expect(nothingValid.status == .unprocessableContent)
        }
    }

    @Test(arguments: [
        (#"{"emails": []}"#, "emails: required"),
        (#"{"mails": [{}]}"#, "emails: required"),
        (#"{"emails": [{}], "extra": 1}"#, "extra: unknown_field"),
    ])
    func `refuses a batch that is not a list of emails`(body: String, problem: String) async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails/batch", json: body)
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == [problem])
        }
    }

    @Test func `refuses more emails than a batch may hold, and an unknown validation mode`() async throws {
        try await APIHarness.run { _, client in
            let tooMany = try await client.post(
                "/v1/emails/batch", json: Self.batch(Array(repeating: APIFixtures.validEmail, count: 101)))
            #expect(tooMany.status == .unprocessableContent)
            #expect(tooMany.problems == ["emails: batch_too_large"])
            let mode = try await client.post("/v1/emails/batch?validation=lenient", json: Self.batch([APIFixtures.validEmail]))
            #expect(mode.problems == ["validation: invalid_value"])
        }
    }
}

@Suite("Scheduled sends")
struct ScheduledSendTests {
    static func email(sendAt: String) -> String {
        #"{"from": "ada@example.org", "to": ["bob@example.com"], "text": "Later", "send_at": "\#(sendAt)"}"#
    }

    @Test func `holds an email until its send_at, and lets it be cancelled until then`() async throws {
        try await APIHarness.run { harness, client in
            // Whole seconds: the store keeps milliseconds.
            let sendAt = Date(timeIntervalSince1970: harness.clock.now.timeIntervalSince1970.rounded(.down) + 3600)
            let text = sendAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            let response = try await client.post("/v1/emails", json: Self.email(sendAt: text))
            #expect(response.status == .accepted)
            let id = try #require((response.json["id"] as? String).flatMap(EmailID.init))
            let shown = try await client.get("/v1/emails/\(id)")
            #expect(shown.json["send_at"] as? String == text)
            #expect(shown.json["status"] as? String == "queued")

            let early = try await harness.store.leaseDueEmails(limit: 10, owner: "t", now: harness.clock.now, duration: .seconds(60))
            #expect(early.isEmpty, "nothing is due before send_at")
            let due = try await harness.store.leaseDueEmails(limit: 10, owner: "t", now: sendAt, duration: .seconds(60))
            #expect(due.map(\.id) == [id])
            #expect(due.first?.queuedAt == sendAt, "retries count their maximum age from send_at")

            let later = try await client.post("/v1/emails", json: Self.email(sendAt: text))
            let laterID = try #require(later.json["id"] as? String)
            #expect(try await client.post("/v1/emails/\(laterID)/cancel", json: "").status == .ok)
        }
    }

    @Test(arguments: [
        ("tomorrow", "send_at: invalid_date"),
        ("2026-13-01T00:00:00Z", "send_at: invalid_date"),
        ("2999-01-01T00:00:00Z", "send_at: too_far_ahead"),
    ])
    func `refuses a send_at that is not an RFC 3339 time within 30 days`(sendAt: String, problem: String) async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails", json: Self.email(sendAt: sendAt))
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == [problem])
        }
    }

    @Test func `sends at once an email scheduled in the past, with an offset other than Z`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.post("/v1/emails", json: Self.email(sendAt: "2020-01-01T10:00:00+02:00"))
            let id = try #require((response.json["id"] as? String).flatMap(EmailID.init))
            let due = try await harness.store.leaseDueEmails(limit: 10, owner: "t", now: harness.clock.now, duration: .seconds(60))
            #expect(due.map(\.id) == [id])
            #expect(try await harness.store.email(id)?.sendAt == Date(timeIntervalSince1970: 1_577_865_600))
        }
    }
}

@Suite("Email limits")
struct EmailLimitTests {
    @Test func `refuses too many recipients and too many attachments, each with its own code`() async throws {
        try await APIHarness.run { _, client in
            let recipients = (0..<51).map { #""r\#($0)@example.com""# }.joined(separator: ",")
            let attachment = #"{"filename": "a.txt", "content": "aGk="}"#
            let attachments = Array(repeating: attachment, count: 21).joined(separator: ",")
            let response = try await client.post(
                "/v1/emails",
                json: #"{"from": "ada@example.org", "to": [\#(recipients)], "text": "x", "attachments": [\#(attachments)]}"#)
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == ["to: too_many_recipients", "attachments: too_many_attachments"])
        }
    }

    @Test func `refuses an email over 40 MB encoded`() async throws {
        try await APIHarness.run(maxBodyBytes: 64 * 1024 * 1024) { _, client in
            // Two attachments of 15 MB are 40 MB in base64, with the text just over the limit.
            let content = Data(count: 15 * 1024 * 1024).base64EncodedString()
            let attachment = #"{"filename": "big.bin", "content": "\#(content)"}"#
            let response = try await client.post(
                "/v1/emails",
                json:
                    #"{"from": "ada@example.org", "to": ["bob@example.com"], "text": "x", "attachments": [\#(attachment), \#(attachment)]}"#
            )
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == ["attachments: message_too_large"])
        }
    }
}

@Suite("Bulk retry and cancel")
struct BulkOperationTests {
    static func email(tag: String) -> String {
        #"{"from": "ada@example.org", "to": ["bob@example.com"], "text": "x", "tags": ["\#(tag)"]}"#
    }

    func accept(_ client: some TestClientProtocol, tag: String) async throws -> EmailID {
        let response = try await client.post("/v1/emails", json: Self.email(tag: tag))
        return try #require((response.json["id"] as? String).flatMap(EmailID.init))
    }

    @Test func `counts what a bulk operation would move, cancels the waiting emails that match, and retries the failed ones`() async throws
    {
        try await APIHarness.run { harness, client in
            let spring = [try await accept(client, tag: "spring"), try await accept(client, tag: "spring")]
            let autumn = try await accept(client, tag: "autumn")
            // A dry run counts what would move, and moves nothing.
            let counted = try await client.post("/v1/emails/cancel", json: #"{"tag": "spring", "status": "queued", "dry_run": true}"#)
            #expect(counted.status == .ok)
            #expect(counted.json["matching"] as? Int == 2)
            #expect(counted.json["cancelled"] == nil)
            #expect(try await client.post("/v1/emails/retry", json: #"{"tag": "spring", "dry_run": true}"#).json["matching"] as? Int == 0)
            for id in spring { #expect(try await harness.store.email(id)?.status == .queued) }

            let cancelled = try await client.post("/v1/emails/cancel", json: #"{"tag": "spring", "status": "queued", "dry_run": false}"#)
            #expect(cancelled.status == .ok)
            #expect(cancelled.json["cancelled"] as? Int == 2)
            for id in spring { #expect(try await harness.store.email(id)?.status == .cancelled) }
            #expect(try await harness.store.email(autumn)?.status == .queued)

            try await harness.fail(autumn)
            let toBob = try await client.post("/v1/emails/retry", json: #"{"recipient": "BOB@example.com", "dry_run": true}"#)
            #expect(toBob.json["matching"] as? Int == 1)
            let toCarol = try await client.post("/v1/emails/retry", json: #"{"recipient": "carol@example.com", "dry_run": true}"#)
            #expect(toCarol.json["matching"] as? Int == 0)
            let retried = try await client.post("/v1/emails/retry", json: #"{"tag": "autumn"}"#)
            #expect(retried.json["retried"] as? Int == 1)
            #expect(try await harness.store.email(autumn)?.status == .queued)
            #expect(try await harness.store.email(autumn)?.events.last?.kind == .retried)

            let none = try await client.post("/v1/emails/retry", json: #"{"created_before": "2000-01-01T00:00:00Z"}"#)
            #expect(none.json["retried"] as? Int == 0)
        }
    }

    @Test(arguments: [
        ("{}", ": filter_required"),
        (#"{"status": "lost"}"#, "status: invalid_value"),
        (#"{"created_after": "yesterday", "colour": "red"}"#, "created_after: invalid_date"),
        (#"{"status": "failed", "dry_run": 1}"#, "dry_run: invalid_type"),
        (#"{"dry_run": true}"#, ": filter_required"),
        (#"{"recipient": "\#(String(repeating: "a", count: 321))"}"#, "recipient: invalid_value"),
    ])
    func `refuses a filter that names nothing or names it wrongly`(body: String, problem: String) async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails/cancel", json: body)
            #expect(response.status == .unprocessableContent)
            #expect(response.problems.contains(problem))
        }
    }
}
