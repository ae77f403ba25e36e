import Foundation
import GRDB
import HeraldAPI
import HeraldCore
import HeraldStoreSQLite
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeraldServer

@Suite("Emails API")
struct EmailsAPITests {
    @Test func `accepts an email with 202, its id and its location once stored`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.post(
                "/v1/emails",
                json: """
                    {"from": "Ada <ada@example.org>", "to": ["Bob <bob@example.com>", "jürgen@bücher.de"], "cc": ["c@example.com"],
                     "bcc": ["d@example.com"], "reply_to": "r@example.com", "subject": "Grüße", "text": "Hi", "html": "<p>Hi</p>",
                     "headers": {"X-Campaign": "spring"}, "tags": ["welcome"], "metadata": {"user": "42"},
                     "attachments": [{"filename": "a.txt", "content": "aGVsbG8=", "content_type": "text/plain"}]}
                    """
            )
            #expect(response.status == .accepted)
            let id = try #require((response.json["id"] as? String).flatMap(EmailID.init))
            #expect(response.json["status"] as? String == "queued")
            #expect(response.headers[.location] == "/v1/emails/\(id)")
            let stored = try #require(try await harness.store.email(id))
            #expect(stored.status == .queued)
            #expect(stored.message.to.map(\.address) == ["bob@example.com", "jürgen@bücher.de"])
            #expect(stored.message.attachments.first?.content == Data("hello".utf8))
            #expect(stored.message.replyTo.map(\.address) == ["r@example.com"])

            // Shown back with its sender, recipients and subject; never its Bcc.
            let shown = try await client.get("/v1/emails/\(id)")
            #expect(shown.json["from"] as? String == "Ada <ada@example.org>")
            #expect(shown.json["to"] as? [String] == ["Bob <bob@example.com>", "jürgen@bücher.de"])
            #expect(shown.json["cc"] as? [String] == ["c@example.com"])
            #expect(shown.json["reply_to"] as? [String] == ["r@example.com"])
            #expect(shown.json["subject"] as? String == "Grüße")
            #expect(shown.json["bcc"] == nil)
            #expect(!String(buffer: shown.body).contains("d@example.com"))
        }
    }

    @Test func `keeps provider options for the providers they name`() async throws {
        try await APIHarness.run { harness, client in
            let id = try await client.accept(
                #"{"from":"a@example.org","to":["b@example.org"],"text":"x","provider_options":{"ses":{"configuration_set":"bulk"},"mail":{"configuration_set":"vip"}}}"#
            )
            let stored = try #require(try await harness.store.email(id))
            #expect(stored.message.providerOptions == ["ses": ["configuration_set": "bulk"], "mail": ["configuration_set": "vip"]])
        }
    }

    @Test func `refuses options for unknown providers and options a provider does not read`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post(
                "/v1/emails",
                json:
                    #"{"from":"a@example.org","to":["b@example.org"],"text":"x","provider_options":{"nobody":{"a":"b"},"sandbox":{"speed":"fast"},"ses":{"configuration_set":7}}}"#
            )
            #expect(response.status == .unprocessableContent)
            #expect(
                response.problems == [
                    "provider_options.nobody: unknown_provider", "provider_options.sandbox.speed: unsupported_option",
                    "provider_options.ses.configuration_set: invalid_type",
                ]
            )
        }
    }

    @Test func `answers 400 to malformed JSON`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails", json: #"{"from": "#)
            #expect(response.status == .badRequest)
            #expect(response.error["code"] as? String == "malformed_json")
        }
    }

    @Test func `lists every field problem at once with 422`() async throws {
        try await APIHarness.run { harness, client in
            let response = try await client.post(
                "/v1/emails",
                json: """
                    {"from": "not an address", "to": ["ok@example.com", 7, "bad@"], "subject": "a\\r\\nBcc: x@evil.com",
                     "headers": {"Message-ID": "<x@y>", "X-Ok": "fine\\nInjected: yes", "Bad Name": "v"},
                     "attachments": [{"filename": "a.txt", "content": "%%%"}, {"filename": null, "content": null}], "tags": "x",
                     "colour": "blue"}
                    """
            )
            #expect(response.status == .unprocessableContent)
            #expect(response.error["code"] as? String == "validation_failed")
            #expect(
                response.problems == [
                    "from: invalid_address", "to[1]: invalid_type", "to[2]: invalid_address", "subject: line_break",
                    "text: required", "headers.Message-ID: reserved_header", "headers.X-Ok: line_break",
                    "headers.Bad Name: invalid_header_name", "attachments[0].content: invalid_base64", "attachments[1].filename: required",
                    "attachments[1].content: required", "tags: invalid_type",
                    "colour: unknown_field",
                ]
            )
            #expect(try await harness.store.emails(status: nil, limit: 10, after: nil).isEmpty)
        }
    }

    @Test func `rejects line breaks in display names`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post(
                "/v1/emails", json: #"{"from": "Ada\r\nBcc: x@evil.com <ada@example.org>", "to": ["b@example.com"], "text": "x"}"#
            )
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == ["from: line_break"])
        }
    }

    @Test func `refuses NUL and other control characters in every header field, but not a tab`() async throws {
        try await APIHarness.run { _, client in
            let body = #"""
                {"from": "Ada\u0000 <ada@example.org>", "to": ["Bob\u001b <b@example.com>"], "subject": "Hi\u0007",
                 "text": "body text may hold \u0000", "headers": {"X-Note": "a\u0000b"}, "tags": ["t\u007f"],
                 "metadata": {"k": "v\u0001"}}
                """#
            let response = try await client.post("/v1/emails", json: body)
            #expect(response.status == .unprocessableContent)
            #expect(
                response.problems == [
                    "from: control_character", "to[0]: control_character", "subject: control_character",
                    "headers.X-Note: control_character", "tags[0]: control_character", "metadata.k: control_character",
                ])
            let tab = try await client.post(
                "/v1/emails", json: #"{"from": "a@example.org", "to": ["b@example.com"], "subject": "a\u0009b", "text": "x"}"#)
            #expect(tab.status == .accepted)
        }
    }

    @Test func `refuses metadata keys outside A-Z, a-z, 0-9, underscore, dot and dash, and header words too long to fold`() async throws {
        try await APIHarness.run { _, client in
            let longKey = String(repeating: "k", count: 65)
            let word = String(repeating: "w", count: 991)
            let body = #"""
                {"from": "a@example.org", "to": ["b@example.com"], "text": "x", "headers": {"X-Long": "\#(word)"},
                 "metadata": {"ok_key.v-1": "1", "with space": "2", "ключ": "3", "\#(longKey)": "4", "": "5"}}
                """#
            let response = try await client.post("/v1/emails", json: body)
            #expect(response.status == .unprocessableContent)
            #expect(
                response.problems == [
                    "headers.X-Long: too_long", "metadata.with space: invalid_key", "metadata.ключ: invalid_key",
                    "metadata.\(longKey): invalid_key", "metadata.: invalid_key",
                ], "\(response.problems)")
        }
    }

    /// A stored message damaged behind the store's back: the store throws something the API
    /// has no answer for, and the client gets the error shape with 500, without the detail.
    @Test func `answers 500 internal_error without detail when the store fails unexpectedly`() async throws {
        try await APIHarness.run { harness, client in
            let id = try await client.accept()
            let database = try DatabaseQueue(path: harness.databasePath)
            try await database.write { db in
                try db.execute(sql: "UPDATE email_contents SET message = x'ff' WHERE email_id = ?", arguments: [id.rawValue])
            }
            let response = try await client.get("/v1/emails/\(id)")
            #expect(response.status == .internalServerError)
            #expect(response.error["code"] as? String == "internal_error")
            #expect(response.error["message"] as? String == "Herald could not handle the request")
            #expect(!String(buffer: response.body).contains("stored message"), "the store's error must not reach the client")
        }
    }

    /// Numbers in query strings and bodies: each edge value gets an answer, 422 when it is out
    /// of range, never a trap or a 500.
    @Test(arguments: ["0", "-1", "NaN", "inf", "1e300", "", "99999999999999999999", "-99999999999999999999", "0x10"])
    func `no number in a request traps the server`(value: String) async throws {
        try await APIHarness.run { _, client in
            for path in ["/v1/emails?limit=", "/v1/suppressions?limit="] {
                let listed = try await client.get(path + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value))
                #expect(
                    [.ok, .unprocessableContent].contains(listed.status), "\(path)\(value): \(listed.status) \(String(buffer: listed.body))"
                )
            }
            let number = Double(value).map { $0.isFinite ? value : "1e999" } ?? "1e999"
            for field in ["latency_ms", "latency_jitter_ms", "failure_rate", "retry_after_seconds"] {
                let changed = try await client.put("/v1/admin/providers/sandbox/sandbox", json: #"{"\#(field)": \#(number)}"#)
                #expect([.ok, .unprocessableContent, .badRequest].contains(changed.status), "\(field)=\(number): \(changed.status)")
            }
            let email = #"{"from": "a@example.org", "to": ["b@example.com"], "text": "x", "send_at": "\#(value)"}"#
            #expect(try await client.post("/v1/emails", json: email).status == .unprocessableContent)
        }
    }

    @Test func `answers 422 to a body that is not an object`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails", json: "[1, 2]")
            #expect(response.status == .unprocessableContent)
            #expect(response.problems == [": invalid_type"])
        }
    }

    @Test func `answers 413 to a body over the limit`() async throws {
        try await APIHarness.run(maxBodyBytes: 2048) { _, client in
            let big = String(repeating: "x", count: 4096)
            let response = try await client.post("/v1/emails", json: #"{"from":"a@example.org","to":["b@example.org"],"text":"\#(big)"}"#)
            #expect(response.status == .contentTooLarge)
            #expect(response.error["code"] as? String == "payload_too_large")
        }
    }

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", ""])
    func `answers 415 to anything but JSON`(contentType: String) async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails", json: APIFixtures.validEmail, contentType: contentType)
            #expect(response.status == .unsupportedMediaType)
            #expect(response.error["code"] as? String == "unsupported_media_type")
        }
    }

    @Test func `accepts JSON with a charset`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.post("/v1/emails", json: APIFixtures.validEmail, contentType: "application/json; charset=utf-8")
            #expect(response.status == .accepted)
        }
    }

    @Test func `shows an email with its attempts and events`() async throws {
        try await APIHarness.run { harness, client in
            let id = try await client.accept()
            let leased = try await harness.store.leaseDueEmails(limit: 1, owner: "t", now: harness.clock.now, duration: .seconds(60))[0]
            try await harness.store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: nil, next: .attempt(number: 1, provider: "sandbox"),
                    at: harness.clock.now)
            )
            let attempt = Attempt(number: 1, provider: "sandbox", startedAt: harness.clock.now, latencyMilliseconds: 3, outcome: .sent)
            try await harness.store.record(
                DeliveryProgress(
                    emailID: id, leaseToken: leased.leaseToken, finishedAttempt: attempt,
                    next: .sent(provider: "sandbox", providerMessageID: "m-1"), at: harness.clock.now)
            )
            let response = try await client.get("/v1/emails/\(id)")
            #expect(response.status == .ok)
            let json = response.json
            #expect(json["status"] as? String == "sent")
            #expect(json["provider"] as? String == "sandbox")
            #expect(json["provider_message_id"] as? String == "m-1")
            #expect(json["created_at"] is String && json["updated_at"] is String)
            let attempts = try #require(json["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1)
            #expect(attempts[0]["provider"] as? String == "sandbox")
            #expect(attempts[0]["latency_ms"] as? Int == 3)
            #expect(attempts[0]["outcome"] as? String == "sent")
            #expect(attempts[0]["started_at"] is String)
            let events = try #require(json["events"] as? [[String: Any]])
            #expect(events.map { $0["type"] as? String } == ["queued", "attempt_started", "sent"])
        }
    }

    @Test(arguments: ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"])
    func `answers 404 with the error shape for an unknown email`(id: String) async throws {
        try await APIHarness.run { _, client in
            let response = try await client.get("/v1/emails/\(id)")
            #expect(response.status == .notFound)
            #expect(response.error["code"] as? String == "not_found")
        }
    }

    @Test func `answers 404 with the error shape for an unknown route`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.get("/v2/nothing")
            #expect(response.status == .notFound)
            #expect(response.error["code"] as? String == "not_found")
        }
    }

    @Test func `lists newest first with a cursor and a status filter`() async throws {
        try await APIHarness.run { harness, client in
            var ids: [EmailID] = []
            for _ in 0..<3 {
                ids.append(try await client.accept())
                harness.clock.advance(by: .milliseconds(2))
            }
            try await harness.fail(ids[1])
            let page = try await client.get("/v1/emails?limit=2")
            #expect(page.status == .ok)
            let data = try #require(page.json["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == [ids[2].rawValue, ids[1].rawValue])
            let cursor = try #require(page.json["next_cursor"] as? String)
            let next = try await client.get("/v1/emails?limit=2&cursor=\(cursor)")
            #expect((next.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[0].rawValue])
            #expect(next.json["next_cursor"] is NSNull)
            let failed = try await client.get("/v1/emails?status=failed")
            #expect((failed.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[1].rawValue])
            // The accepted emails go to bob@example.com; %40 is the @.
            let bobs = try await client.get("/v1/emails?recipient=Bob%40Example.com&limit=2")
            #expect((bobs.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[2].rawValue, ids[1].rawValue])
            let nobody = try await client.get("/v1/emails?recipient=nobody@example.com")
            #expect((nobody.json["data"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test func `lists by tag, provider and creation time`() async throws {
        try await APIHarness.run { harness, client in
            let welcome = try await client.accept(
                #"{"from":"ada@example.org","to":["bob@example.com"],"subject":"Hi","text":"Hello","tags":["welcome"]}"#)
            harness.clock.advance(by: .seconds(10))
            let later = harness.clock.now
            let plain = try await client.accept()
            func listed(_ query: String) async throws -> [String?]? {
                (try await client.get("/v1/emails?\(query)").json["data"] as? [[String: Any]])?.map { $0["id"] as? String }
            }
            #expect(try await listed("tag=welcome") == [welcome.rawValue])
            #expect(try await listed("tag=welcome&recipient=carol%40example.com") == [])
            #expect(try await listed("provider=sandbox") == [])
            let time = try #require(later.formatted(.iso8601).addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            #expect(try await listed("created_after=\(time)") == [plain.rawValue])
            #expect(try await listed("created_before=\(time)") == [welcome.rawValue])
            #expect(try await listed("created_after=\(time)&tag=welcome") == [])
        }
    }

    @Test func `answers 422 to bad list parameters`() async throws {
        try await APIHarness.run { _, client in
            let response = try await client.get(
                "/v1/emails?status=lost&limit=0&cursor=zzz&recipient=&tag=&provider=&created_after=yesterday&created_before=2026-13-01")
            #expect(response.status == .unprocessableContent)
            #expect(
                response.problems == [
                    "status: invalid_value", "limit: invalid_value", "cursor: invalid_value", "recipient: invalid_value",
                    "tag: invalid_value", "provider: invalid_value", "created_after: invalid_date", "created_before: invalid_date",
                ])
            let long = try await client.get("/v1/emails?recipient=\(String(repeating: "a", count: 321))")
            #expect(long.problems == ["recipient: invalid_value"])
        }
    }

    @Test func `retries a failed email and refuses others with 409`() async throws {
        try await APIHarness.run { harness, client in
            let id = try await client.accept()
            let early = try await client.post("/v1/emails/\(id)/retry", json: "")
            #expect(early.status == .conflict)
            #expect(early.error["code"] as? String == "invalid_state")
            try await harness.fail(id)
            let retried = try await client.post("/v1/emails/\(id)/retry", json: "")
            #expect(retried.status == .accepted)
            let email = try await client.get("/v1/emails/\(id)").json
            #expect(email["status"] as? String == "queued")
            #expect((email["events"] as? [[String: Any]])?.map { $0["type"] as? String } == ["queued", "failed", "retried"])
        }
    }

    @Test func `shows when retention removed an email's content, and refuses to retry it`() async throws {
        try await APIHarness.run { harness, client in
            let id = try await client.accept()
            try await harness.fail(id)
            #expect(try await client.get("/v1/emails/\(id)").json["content_removed_at"] == nil)
            #expect(try await harness.store.removeContent(of: [id], now: harness.clock.now) == 1)
            let email = try await client.get("/v1/emails/\(id)").json
            #expect(email["content_removed_at"] as? String != nil)
            #expect(email["subject"] as? String == "")
            #expect(email["to"] as? [String] != [])
            let retry = try await client.post("/v1/emails/\(id)/retry", json: "")
            #expect(retry.status == .conflict)
            #expect(retry.error["code"] as? String == "invalid_state")
            #expect((retry.error["message"] as? String)?.contains("retention removed") == true)
        }
    }

    @Test func `marks the emails of a metadata-only tenant, single and batched, and only theirs`() async throws {
        try await APIHarness.run(configure: { $0.retention.tenantRules = ["quiet": RetentionRule(metadataOnly: true)] }) {
            harness, client in
            let quietKey = try await harness.key(tenant: "quiet", scope: .send)
            let single = try await client.post("/v1/emails", json: APIFixtures.validEmail, as: quietKey)
            #expect(single.status == .accepted)
            let batch = try await client.post(
                "/v1/emails/batch", json: #"{"emails":[\#(APIFixtures.validEmail)]}"#, as: quietKey)
            #expect(batch.status == .accepted)
            _ = try await client.accept()
            let leased = try await harness.store.leaseDueEmails(limit: 10, owner: "test", now: harness.clock.now, duration: .seconds(60))
            #expect(leased.count == 3)
            #expect(leased.filter(\.metadataOnly).count == 2)
        }
    }

    @Test func `cancels a queued email and refuses a second cancel with 409`() async throws {
        try await APIHarness.run { _, client in
            let id = try await client.accept()
            let cancelled = try await client.post("/v1/emails/\(id)/cancel", json: "")
            #expect(cancelled.status == .ok)
            #expect(cancelled.json["status"] as? String == "cancelled")
            let again = try await client.post("/v1/emails/\(id)/cancel", json: "")
            #expect(again.status == .conflict)
            let unknown = try await client.post("/v1/emails/\(EmailID())/cancel", json: "")
            #expect(unknown.status == .notFound)
        }
    }

    @Test func `refuses new emails with 503 while draining`() async throws {
        try await APIHarness.run { harness, client in
            harness.state.startDraining()
            let response = try await client.post("/v1/emails", json: APIFixtures.validEmail)
            #expect(response.status == .serviceUnavailable)
            #expect(response.error["code"] as? String == "shutting_down")
            #expect(response.headers[.retryAfter] == "5")
        }
    }
}
