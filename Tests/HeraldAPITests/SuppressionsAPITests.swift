import Foundation
import HeraldCore
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeraldAPI

@Suite("Suppressions API")
struct SuppressionsAPITests {
    @Test func `adds, shows, lists and removes a tenant's suppressions`() async throws {
        try await APIHarness.run { harness, client in
            let added = try await client.post("/v1/suppressions", json: #"{"address": "Bob@Example.com", "reason": "asked to stop"}"#)
            #expect(added.status == .created)
            #expect(added.headers[.location] == "/v1/suppressions/bob@example.com")
            #expect(added.json["address"] as? String == "bob@example.com")
            #expect(added.json["source"] as? String == "api")
            #expect(added.json["email_id"] is NSNull)
            #expect(added.json["created_at"] as? String != nil)

            let again = try await client.post("/v1/suppressions", json: #"{"address": "bob@example.com", "reason": "other"}"#)
            #expect(again.status == .ok)
            #expect(again.json["reason"] as? String == "asked to stop")

            _ = try await client.post("/v1/suppressions", json: #"{"address": "alice@example.com"}"#)
            let first = try await client.get("/v1/suppressions?limit=1")
            #expect((first.json["data"] as? [[String: Any]])?.map { $0["address"] as? String } == ["alice@example.com"])
            let cursor = try #require(first.json["next_cursor"] as? String)
            let second = try await client.get("/v1/suppressions?limit=1&cursor=\(cursor)")
            #expect((second.json["data"] as? [[String: Any]])?.map { $0["address"] as? String } == ["bob@example.com"])

            #expect(try await client.get("/v1/suppressions/BOB@example.com").json["reason"] as? String == "asked to stop")
            #expect(try await client.get("/v1/suppressions/bob%40example.com").status == .ok)
            #expect(try await client.delete("/v1/suppressions/bob@example.com").status == .noContent)
            let gone = try await client.get("/v1/suppressions/bob@example.com")
            #expect(gone.status == .notFound)
            #expect(gone.error["code"] as? String == "not_found")
            #expect(try await client.delete("/v1/suppressions/bob@example.com").status == .notFound)

            let odd = try await client.post("/v1/suppressions", json: #"{"address": "a/b?c#d%e@example.com"}"#)
            let location = try #require(odd.headers[.location])
            #expect(location == "/v1/suppressions/a%2Fb%3Fc%23d%25e@example.com")
            #expect(try await client.get(location).json["address"] as? String == "a/b?c#d%e@example.com")
            #expect(try await client.delete(location).status == .noContent)
        }
    }

    @Test func `names every problem of a suppression at once`() async throws {
        try await APIHarness.run { _, client in
            let long = String(repeating: "x", count: 501)
            let response = try await client.post("/v1/suppressions", json: #"{"address": "not an address", "reason": "\#(long)", "x": 1}"#)
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == ["address: invalid_address", "reason: too_long", "x: unknown_field"])
            let missing = try await client.post("/v1/suppressions", json: #"{"reason": 3}"#)
            #expect(missing.problems == ["address: required", "reason: invalid_type"])
            #expect(try await client.post("/v1/suppressions", json: "[").status == .badRequest)
            #expect(try await client.get("/v1/suppressions?limit=0").problems == ["limit: invalid_value"])
        }
    }

    @Test func `another tenant neither sees nor changes a tenant's suppressions, and scopes apply`() async throws {
        try await APIHarness.run { harness, client in
            let acme = try await harness.key(tenant: "acme", scope: .send)
            let globex = try await harness.key(tenant: "globex", scope: .admin)
            let reader = try await harness.key(tenant: "acme", scope: .read)
            #expect(try await client.post("/v1/suppressions", json: #"{"address": "bob@example.com"}"#, as: acme).status == .created)
            #expect(try await client.get("/v1/suppressions/bob@example.com", as: globex).status == .notFound)
            #expect(try await client.delete("/v1/suppressions/bob@example.com", as: globex).status == .notFound)
            #expect((try await client.get("/v1/suppressions", as: globex).json["data"] as? [Any])?.isEmpty == true)
            #expect(try await client.get("/v1/suppressions/bob@example.com", as: reader).status == .ok)
            #expect(try await client.delete("/v1/suppressions/bob@example.com", as: reader).status == .forbidden)
            #expect(try await client.post("/v1/suppressions", json: #"{"address": "eve@example.com"}"#, as: reader).status == .forbidden)
            #expect(try await client.get("/v1/suppressions", as: nil).status == .unauthorized)
        }
    }
}
