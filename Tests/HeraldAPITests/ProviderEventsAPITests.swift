import Crypto
import Foundation
import HTTPTypes
import HeraldCore
import HeraldProviders
import HeraldTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import HeraldServer

/// `/events/{provider}` for the providers whose requests Herald checks itself: each signed
/// or authenticated as the provider documents it, with keys these tests make.
@Suite("Provider events in")
struct ProviderEventsAPITests {
    /// The email as the tests read it: its recipients' states and its provider events.
    struct EmailEvents: Decodable {
        struct Recipient: Decodable, Equatable {
            let address: String
            let state: String
        }
        struct Event: Decodable {
            let id: String
            let provider: String
            let type: String
            let recipient: String?
            let payload: String
        }
        let recipients: [Recipient]
        let providerEvents: [Event]

        enum CodingKeys: String, CodingKey {
            case recipients
            case providerEvents = "provider_events"
        }
    }

    static let sendGridKey = P256.Signing.PrivateKey()
    static let mailgunKey = "key-\(UUID().uuidString)"
    static let postmarkPassword = "pm-\(UUID().uuidString)"
    static let elasticSecret = "ee-\(UUID().uuidString)"

    /// Providers that send nothing in these tests: they are here for their event reception.
    static func configure(_ configuration: inout HeraldConfiguration) {
        func provider(_ name: String, _ events: HeraldConfiguration.EventReception) -> HeraldConfiguration.ProviderSettings {
            .init(name: name, priority: 10, timeout: .seconds(5), kind: .sandbox(.init()), events: events)
        }
        configuration.providers += [
            provider("grid", .sendGrid(.init(publicKey: sendGridKey.publicKey))),
            provider("gun", .mailgun(.init(signingKey: mailgunKey))),
            provider("mark", .postmark(.init(username: "herald", password: postmarkPassword))),
            provider("elastic", .elasticEmail(.init(secret: elasticSecret))),
        ]
    }

    func events(of id: EmailID, _ client: some TestClientProtocol) async throws -> EmailEvents {
        let response = try await client.get("/v1/emails/\(id)")
        return try JSONDecoder().decode(EmailEvents.self, from: Data(response.body.readableBytesView))
    }

    func post(_ path: String, _ body: String, headers: HTTPFields = [:], _ client: some TestClientProtocol) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    // MARK: SendGrid

    func sendGridHeaders(_ body: String, timestamp: Int, key: P256.Signing.PrivateKey = sendGridKey) throws -> HTTPFields {
        let signature = try key.signature(for: Data("\(timestamp)\(body)".utf8))
        return [
            HTTPField.Name("X-Twilio-Email-Event-Webhook-Signature")!: signature.derRepresentation.base64EncodedString(),
            HTTPField.Name("X-Twilio-Email-Event-Webhook-Timestamp")!: "\(timestamp)",
        ]
    }

    @Test func `SendGrid: a signed batch is recorded, and a replayed, tampered, expired or unsigned one refused`() async throws {
        try await APIHarness.run(configure: Self.configure) { harness, client in
            let id = try await client.accept()
            let now = Int(harness.clock.now.timeIntervalSince1970)
            let body = """
                [{"email":"Bob@herald-test.example","timestamp":\(now),"event":"delivered","sg_event_id":"ev-1","sg_message_id":"abc.filter1","herald_id":"\(id)"},
                 {"email":"bob@herald-test.example","timestamp":\(now + 5),"event":"open","sg_event_id":"ev-2","herald_id":"\(id)"},
                 {"email":"carol@herald-test.example","timestamp":\(now),"event":"bounce","type":"bounce","status":"5.1.1","reason":"no such user","sg_event_id":"ev-3","herald_id":"\(id)"},
                 {"email":"x@herald-test.example","timestamp":\(now),"event":"delivered","sg_event_id":"ev-4","herald_id":"01M0000000000000000000000A"}]
                """
            let signed = try sendGridHeaders(body, timestamp: now)
            let accepted = try await post("/events/grid", body, headers: signed, client)
            #expect(accepted.status == .ok)
            #expect(accepted.json["recorded"] as? Int == 3)
            #expect(accepted.json["unmatched"] as? Int == 1)

            let email = try await events(of: id, client)
            #expect(
                email.recipients == [
                    .init(address: "bob@herald-test.example", state: "delivered"),
                    .init(address: "carol@herald-test.example", state: "bounced"),
                ])
            #expect(email.providerEvents.map(\.id) == ["ev-1", "ev-3", "ev-2"])
            // Each event's payload is its own part of the batch, byte for byte.
            let lines = body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces.union(["[", "]", ","])) }
            #expect(email.providerEvents.map(\.payload) == [lines[0], lines[2], lines[1]])
            let suppression = try await client.get("/v1/suppressions/carol@herald-test.example")
            #expect(suppression.json["source"] as? String == "event")
            #expect(suppression.json["event_id"] as? String == "grid:ev-3")

            let replayed = try await post("/events/grid", body, headers: signed, client)
            #expect(replayed.status == .unauthorized)
            #expect(replayed.error["code"] as? String == "event_replayed")
            // Signed again (ECDSA signatures differ each time), the same content is still a replay.
            let resigned = try await post("/events/grid", body, headers: try sendGridHeaders(body, timestamp: now), client)
            #expect(resigned.error["code"] as? String == "event_replayed")
            let tampered = try await post(
                "/events/grid", body.replacingOccurrences(of: "bounce", with: "delivered"),
                headers: try sendGridHeaders(body, timestamp: now + 1),
                client)
            #expect(tampered.error["code"] as? String == "event_unauthenticated")
            let expired = try await post("/events/grid", body, headers: try sendGridHeaders(body, timestamp: now - 3600), client)
            #expect(expired.error["code"] as? String == "event_replayed")
            let otherKey = try await post(
                "/events/grid", body, headers: try sendGridHeaders(body, timestamp: now + 2, key: P256.Signing.PrivateKey()), client)
            #expect(otherKey.error["code"] as? String == "event_unauthenticated")
            #expect(try await post("/events/grid", body, client).status == .unauthorized)
            let notJSON = "not json"
            let malformed = try await post("/events/grid", notJSON, headers: try sendGridHeaders(notJSON, timestamp: now + 3), client)
            #expect(malformed.status == .badRequest)
            #expect(malformed.error["code"] as? String == "event_malformed")

            let providers = try await client.get("/v1/providers")
            let grid = try #require((providers.json["data"] as? [[String: Any]])?.first { $0["name"] as? String == "grid" })
            let counts = try #require(grid["events"] as? [String: Any])
            #expect(counts["endpoint"] as? String == "/events/grid")
            #expect(counts["received_24h"] as? Int == 3)
            #expect(counts["refused_24h"] as? Int == 7)
            #expect(counts["last_event_at"] != nil)
            #expect(try await events(of: id, client).providerEvents.count == 3, "no refused request stored anything")
        }
    }

    // MARK: Mailgun

    func mailgunBody(_ eventData: String, timestamp: Int, token: String, key: String = mailgunKey) -> String {
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp)\(token)".utf8), using: SymmetricKey(data: Data(key.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        return #"{"signature":{"timestamp":"\#(timestamp)","token":"\#(token)","signature":"\#(signature)"},"event-data":\#(eventData)}"#
    }

    @Test func `Mailgun: a signed event is recorded once, and a token is never accepted twice`() async throws {
        try await APIHarness.run(configure: Self.configure) { harness, client in
            let id = try await client.accept()
            let now = Int(harness.clock.now.timeIntervalSince1970)
            let failed = """
                {"event":"failed","id":"mg-1","timestamp":\(now),"recipient":"dave@herald-test.example","severity":"permanent","reason":"bounce",
                 "delivery-status":{"code":550,"message":"5.1.1 unknown"},"user-variables":{"herald_id":"\(id)"}}
                """
            let body = mailgunBody(failed, timestamp: now, token: "token-1")
            let accepted = try await post("/events/gun", body, client)
            #expect(accepted.status == .ok)
            #expect(accepted.json["recorded"] as? Int == 1)
            #expect(try await events(of: id, client).recipients == [.init(address: "dave@herald-test.example", state: "bounced")])
            #expect(try await client.get("/v1/suppressions/dave@herald-test.example").status == .ok)

            #expect(try await post("/events/gun", body, client).error["code"] as? String == "event_replayed")
            let late = try await post("/events/gun", mailgunBody(failed, timestamp: now - 301, token: "token-2"), client)
            #expect(late.error["code"] as? String == "event_replayed")
            let forged = try await post("/events/gun", mailgunBody(failed, timestamp: now, token: "token-3", key: "wrong"), client)
            #expect(forged.error["code"] as? String == "event_unauthenticated")
            let again = try await post("/events/gun", mailgunBody(failed, timestamp: now, token: "token-4"), client)
            #expect(again.json["duplicates"] as? Int == 1, "a new request with the same event is recognised")
        }
    }

    // MARK: Postmark

    @Test func `Postmark: basic-auth credentials from the URL are required, and repeats are dropped`() async throws {
        try await APIHarness.run(configure: Self.configure) { _, client in
            let id = try await client.accept()
            let delivery = """
                {"RecordType":"Delivery","MessageID":"pm-1","Recipient":"erin@herald-test.example","DeliveredAt":"2026-12-07T01:00:00Z","Metadata":{"herald_id":"\(id)"}}
                """
            let complaint = """
                {"RecordType":"SpamComplaint","ID":42,"MessageID":"pm-1","Email":"erin@herald-test.example","BouncedAt":"2026-12-07T01:05:00Z","Metadata":{"herald_id":"\(id)"}}
                """
            let credentials = "Basic " + Data("herald:\(Self.postmarkPassword)".utf8).base64EncodedString()
            let authorized: HTTPFields = [.authorization: credentials]
            #expect(try await post("/events/mark", complaint, headers: authorized, client).json["recorded"] as? Int == 1)
            #expect(try await post("/events/mark", delivery, headers: authorized, client).json["recorded"] as? Int == 1)
            #expect(try await post("/events/mark", delivery, headers: authorized, client).json["duplicates"] as? Int == 1)
            #expect(try await events(of: id, client).recipients == [.init(address: "erin@herald-test.example", state: "complained")])
            #expect(try await client.get("/v1/suppressions/erin@herald-test.example").json["reason"] as? String == "complaint")

            let wrong: HTTPFields = [.authorization: "Basic " + Data("herald:guess".utf8).base64EncodedString()]
            #expect(try await post("/events/mark", delivery, headers: wrong, client).status == .unauthorized)
            #expect(try await post("/events/mark", delivery, client).status == .unauthorized)
        }
    }

    // MARK: Elastic Email

    @Test func `Elastic Email: a notification with the URL's secret is recorded, one without refused`() async throws {
        try await APIHarness.run(configure: Self.configure) { _, client in
            let id = try await client.accept()
            let query = "status=Error&category=NoMailbox&to=frank%40herald-test.example&transaction=t-1&messageid=m-1&postback=\(id)"
            let accepted = try await client.execute(uri: "/events/elastic?secret=\(Self.elasticSecret)&\(query)", method: .get)
            #expect(accepted.status == .ok)
            #expect(accepted.json["recorded"] as? Int == 1)
            #expect(try await events(of: id, client).recipients == [.init(address: "frank@herald-test.example", state: "bounced")])
            let wrong = try await client.execute(uri: "/events/elastic?secret=wrong&\(query)", method: .get)
            #expect(wrong.status == .unauthorized)
            let missing = try await client.execute(uri: "/events/elastic?\(query)", method: .get)
            #expect(missing.status == .unauthorized)
        }
    }

    @Test func `a provider without event reception, or no provider at all, is not found`() async throws {
        try await APIHarness.run(configure: Self.configure) { _, client in
            for path in ["/events/files", "/events/nobody"] {
                let response = try await post(path, "[]", client)
                #expect(response.status == .notFound)
            }
        }
    }
}
