import Foundation
import HeraldTesting
import NIOHTTP1
import Testing

/// Provider events through the built binary: Amazon SES's through SNS, signed with a key and
/// certificate the test makes and served from a local HTTPS server, and the sandbox's
/// simulated ones.
@Suite("Provider events end to end", .timeLimit(.minutes(2)))
struct ProviderEventsEndToEndTests {
    /// An SNS message signed as SNS signs: `Name\nvalue\n` for the type's fields, with the
    /// RSA key, SHA1 for SignatureVersion 1 and SHA256 for 2.
    struct SNS {
        let directory: URL
        let key: String
        let certificateURL: String

        func message(_ fields: [String: String], version: Int = 1) throws -> String {
            let order =
                fields["Type"] == "Notification"
                ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
                : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
            let signed = order.compactMap { name in fields[name].map { "\(name)\n\($0)\n" } }.joined()
            let input = directory.appendingPathComponent("signed-\(UUID().uuidString)")
            let output = directory.appendingPathComponent("signature-\(UUID().uuidString)")
            try Data(signed.utf8).write(to: input)
            let openssl = try Command.run(
                "openssl", ["dgst", version == 1 ? "-sha1" : "-sha256", "-sign", key, "-out", output.path, input.path])
            guard openssl.status == 0 else { throw TestFailure("openssl could not sign: \(openssl.errors)") }
            var message = fields
            message["SignatureVersion"] = "\(version)"
            message["Signature"] = try Data(contentsOf: output).base64EncodedString()
            message["SigningCertURL"] = message["SigningCertURL"] ?? certificateURL
            return String(decoding: try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys]), as: UTF8.self)
        }

        func notification(_ sesJSON: String, id: String, version: Int = 1) throws -> String {
            try message(
                [
                    "Type": "Notification", "MessageId": id, "TopicArn": Self.topic, "Message": sesJSON,
                    "Timestamp": "2026-12-07T01:00:00.000Z",
                ], version: version)
        }

        static let topic = "arn:aws:sns:eu-west-1:123456789012:herald-events"
    }

    func post(_ herald: HeraldProcess, _ body: String) async throws -> (status: Int, body: [String: Any]) {
        try await HTTP.shared.request(.POST, herald.baseURL + "/events/ses", json: body)
    }

    @Test func `SES events through SNS: the subscription is confirmed, signed notifications recorded, forged ones refused`() async throws {
        try await withTemporaryDirectory { directory in
            let served = directory.appendingPathComponent("served")
            try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
            let (certificate, key) = try TestCertificate.make(in: directory)
            try FileManager.default.copyItem(
                atPath: certificate, toPath: served.appendingPathComponent("SimpleNotificationService-test.pem").path)
            try await HTTPSFileServer.with(directory: served, certificate: certificate, key: key) { server in
                let host = "127.0.0.1:\(server.port)"
                let config = """
                    providers:
                      - {name: sandbox, type: sandbox, events: {simulate: false}}
                      - name: ses
                        type: ses
                        region: eu-west-1
                        access_key_id: unused
                        secret_access_key: unused
                        priority: 9
                        events: {enabled: true, allowed_hosts: ["\(host)"], topic_arns: ["\(SNS.topic)"], ca_file: "\(certificate)"}
                    """
                let herald = try await HeraldProcess(directory: directory, config: config)
                let sns = SNS(directory: directory, key: key, certificateURL: "https://\(host)/SimpleNotificationService-test.pem")

                // The subscription, confirmed by fetching its SubscribeURL.
                let confirmation = try sns.message(
                    [
                        "Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": "token-1", "TopicArn": SNS.topic,
                        "Message": "You have chosen to subscribe", "SubscribeURL": "https://\(host)/confirm?Token=token-1",
                        "Timestamp": "2026-12-07T01:00:00.000Z",
                    ], version: 2)
                #expect(try await post(herald, confirmation).status == 200)
                #expect(server.requests().contains("/confirm?Token=token-1"))

                let id = try #require(try await herald.send(Fixtures.email(1)).body["id"] as? String)
                try await herald.waitUntil([id], are: "sent")
                // SES's first message to a topic is text, not JSON: accepted, nothing recorded.
                let validated = try sns.notification("Successfully validated SNS topic for Amazon SES event publishing.", id: "n-0")
                #expect(try await post(herald, validated).body["received"] as? Int == 0)

                let bounce = """
                    {"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","timestamp":"2026-12-07T01:00:05.000Z",
                     "bouncedRecipients":[{"emailAddress":"gone@herald-test.example","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},
                     "mail":{"messageId":"ses-1","timestamp":"2026-12-07T01:00:00.000Z","destination":["gone@herald-test.example"],"tags":{"herald_id":["\(id)"]}}}
                    """
                let signedBounce = try sns.notification(bounce, id: "n-1", version: 1)
                let recorded = try await post(herald, signedBounce)
                #expect(recorded.status == 200)
                #expect(recorded.body["recorded"] as? Int == 1)
                let delivery = """
                    {"notificationType":"Delivery","delivery":{"timestamp":"2026-12-07T01:00:04.000Z","recipients":["kept@herald-test.example"],
                     "smtpResponse":"250 ok"},"mail":{"messageId":"ses-1","destination":["kept@herald-test.example"],
                     "headers":[{"name":"X-Herald-Id","value":"\(id)"}]}}
                    """
                #expect(try await post(herald, try sns.notification(delivery, id: "n-2", version: 2)).body["recorded"] as? Int == 1)
                #expect(try await post(herald, signedBounce).body["duplicates"] as? Int == 1, "SNS delivers at least once")

                let email = try await herald.email(id)
                let recipients = (email["recipients"] as? [[String: Any]] ?? []).map { "\($0["address"] ?? ""): \($0["state"] ?? "")" }
                #expect(recipients == ["gone@herald-test.example: bounced", "kept@herald-test.example: delivered"])
                let bounced = try #require((email["provider_events"] as? [[String: Any]])?.first { $0["type"] as? String == "bounced" })
                #expect((bounced["bounce"] as? [String: Any])?["diagnostic"] as? String == "smtp; 550 5.1.1 user unknown")
                let suppression = try await herald.request(.GET, "/v1/suppressions/gone@herald-test.example")
                #expect(suppression.body["event_id"] as? String == "ses:n-1:gone@herald-test.example")

                // Forgeries: a changed message, a certificate from a host not allowed, or over
                // plain HTTP, and a topic not configured.
                let tampered = signedBounce.replacingOccurrences(of: "Permanent", with: "Transient")
                #expect(try await post(herald, tampered).status == 401)
                for url in [
                    "https://localhost:\(server.port)/SimpleNotificationService-test.pem",
                    "http://\(host)/SimpleNotificationService-test.pem",
                ] {
                    var fields = try #require(JSONSerialization.jsonObject(with: Data(signedBounce.utf8)) as? [String: String])
                    fields["SigningCertURL"] = url
                    let answer = try await post(herald, String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
                    #expect(answer.status == 401, "\(url)")
                }
                var otherTopic = try #require(JSONSerialization.jsonObject(with: Data(signedBounce.utf8)) as? [String: String])
                otherTopic["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:other"
                otherTopic.removeValue(forKey: "Signature")
                #expect(try await post(herald, try sns.message(otherTopic)).status == 401)
                let ses = try #require(try await herald.providers().first { $0["name"] as? String == "ses" })
                #expect((ses["events"] as? [String: Any])?["refused_24h"] as? Int == 4)
                #expect(server.requests().filter { $0.hasSuffix(".pem") }.count == 1, "the certificate is fetched once and cached")
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `the sandbox reports delivered, bounce, complaint and delay for the simulator's addresses`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(
                directory: directory, config: "providers: [{name: sandbox, type: sandbox, events: {delay_ms: 50}}]")
            let email = """
                {"from":"ada@herald-test.example","to":["delivered@herald-test.example","bounce@herald-test.example",
                 "complaint@herald-test.example","delayed@herald-test.example","someone@herald-test.example"],"subject":"s","text":"t"}
                """
            let id = try #require(try await herald.send(email).body["id"] as? String)
            try await herald.waitUntil([id], are: "sent")
            var states: [String] = []
            try await waitUntil(timeout: .seconds(10)) {
                states = (try await herald.email(id)["recipients"] as? [[String: Any]] ?? []).map {
                    "\($0["address"] ?? "") \($0["state"] ?? "")"
                }
                return states.count == 4
            } state: {
                "\(states)"
            }
            #expect(
                states == [
                    "bounce@herald-test.example bounced", "complaint@herald-test.example complained",
                    "delayed@herald-test.example deferred", "delivered@herald-test.example delivered",
                ])
            #expect(try await herald.request(.GET, "/v1/suppressions/bounce@herald-test.example").status == 200)
            #expect(try await herald.request(.GET, "/v1/suppressions/complaint@herald-test.example").status == 200)
            #expect(try await herald.request(.GET, "/v1/suppressions/delivered@herald-test.example").status == 404)
            let metrics = try await HTTP.shared.text(.GET, herald.baseURL + "/metrics")
            #expect(metrics.contains(#"herald_provider_events_total{provider="sandbox",type="complained",outcome="recorded"} 1"#))
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }
}
