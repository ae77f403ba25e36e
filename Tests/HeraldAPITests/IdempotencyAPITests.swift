import Foundation
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeraldAPI
@testable import HeraldServer

@Suite("Idempotency-Key")
struct IdempotencyAPITests {
    static func post(
        _ client: some TestClientProtocol, _ uri: String = "/v1/emails", json: String = APIFixtures.validEmail, key: String,
        as apiKey: String? = APIHarness.apiKey
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json", .idempotencyKey: key]
        if let apiKey { headers[.authorization] = "Bearer \(apiKey)" }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    /// The first request claimed the key and then took over a minute (the manual clock); its
    /// retry takes the key over and stores its email, and the first one's final write stores
    /// nothing.
    @Test func `a request slower than a minute and its retry never both store emails`() async throws {
        try await APIHarness.run { harness, client in
            let apiKeyID = try #require(APIHarness.apiKey.map { String($0.split(separator: "_")[1]) })
            let key = IdempotencyKey(apiKeyID: apiKeyID, value: "slow-1")
            guard case .claimed(let slow) = try await harness.store.claim(key, requestHash: [0], now: harness.clock.now) else {
                Issue.record("the slow request must claim the key")
                return
            }
            harness.clock.advance(by: .seconds(61))
            let retry = try await Self.post(client, key: "slow-1")
            #expect(retry.status == .accepted)

            let late = NewEmail(id: EmailID(date: harness.clock.now), message: .sample(), acceptedAt: harness.clock.now)
            let answer = IdempotentAnswer(status: 202, body: Data("{}".utf8), location: nil)
            await #expect(throws: StoreError.claimLost) {
                try await harness.store.insert(batch: [late], answering: key, claim: slow, with: answer, now: harness.clock.now)
            }
            let stored = try await harness.store.emails(status: nil, limit: 10, after: nil)
            #expect(stored.map(\.id.rawValue) == [try #require(retry.json["id"] as? String)])
            let again = try await Self.post(client, key: "slow-1")
            #expect(again.headers[.idempotentReplayed] == "true")
        }
    }

    @Test func `a repeat gets the first answer again and creates nothing`() async throws {
        try await APIHarness.run { harness, client in
            let first = try await Self.post(client, key: "order-4711")
            #expect(first.status == .accepted)
            #expect(first.headers[.idempotentReplayed] == nil)
            let again = try await Self.post(client, key: "order-4711")
            #expect(again.status == .accepted)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(again.json["id"] as? String == first.json["id"] as? String)
            #expect(again.headers[.location] == first.headers[.location])
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).count == 1)

            let batch = #"{"emails": [\#(APIFixtures.validEmail), \#(APIFixtures.validEmail)]}"#
            let batchFirst = try await Self.post(client, "/v1/emails/batch", json: batch, key: "batch-1")
            let batchAgain = try await Self.post(client, "/v1/emails/batch", json: batch, key: "batch-1")
            #expect(String(buffer: batchAgain.body) == String(buffer: batchFirst.body))
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).count == 3)
        }
    }

    @Test func `the same key on another request is refused, and keys are per API key`() async throws {
        try await APIHarness.run { harness, client in
            _ = try await Self.post(client, key: "k1")
            let other = #"{"from": "ada@example.org", "to": ["eve@example.com"], "text": "Other"}"#
            let reused = try await Self.post(client, json: other, key: "k1")
            #expect(reused.status == .unprocessableContent)
            #expect(reused.error["code"] as? String == "idempotency_key_reused")
            let anotherClient = try await harness.key(scope: .send)
            #expect(try await Self.post(client, json: other, key: "k1", as: anotherClient).status == .accepted)
        }
    }

    @Test func `two concurrent identical requests create exactly one email`() async throws {
        try await APIHarness.run { harness, client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<8 { group.addTask { try await Self.post(client, key: "race").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).count == 1)
            #expect(statuses.allSatisfy { $0 == .accepted || $0 == .conflict }, "a repeat while the first runs gets 409")
            #expect(statuses.contains(.accepted))
        }
    }

    @Test func `a refused request keeps its refusal as the answer, and a bad key is refused`() async throws {
        try await APIHarness.run { harness, client in
            let invalid = try await Self.post(client, json: #"{"from": "nobody"}"#, key: "fix-me")
            #expect(invalid.status == .unprocessableContent)
            let repeated = try await Self.post(client, json: #"{"from": "nobody"}"#, key: "fix-me")
            #expect(repeated.status == .unprocessableContent)
            #expect(repeated.headers[.idempotentReplayed] == "true")
            #expect(repeated.body == invalid.body)
            let corrected = try await Self.post(client, key: "fix-me")
            #expect(corrected.error["code"] as? String == "idempotency_key_reused", "a corrected request needs a new key")
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).isEmpty)
            let tooLong = try await Self.post(client, key: String(repeating: "x", count: 257))
            #expect(tooLong.problems == ["Idempotency-Key: invalid_idempotency_key"])
        }
    }
}
