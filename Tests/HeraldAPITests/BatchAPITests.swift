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
