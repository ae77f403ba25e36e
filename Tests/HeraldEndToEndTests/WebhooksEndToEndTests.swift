import Foundation
import HeraldTesting
import NIOHTTP1
import Testing

/// Webhooks from the built binary to a receiver that verifies each with PyPI's
/// `standardwebhooks`, a verifier Herald did not write.
@Suite("Webhooks end to end", .timeLimit(.minutes(2)))
struct WebhooksEndToEndTests {
    static let config = """
        providers: [{name: sandbox, type: sandbox, events: {delay_ms: 50}}]
        webhooks: {allow_private_targets: true}
        """

    @Test func `an email's life reaches the receiver signed, and a failed delivery is retried with the same webhook-id`() async throws {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(answers: ["500"], in: directory) { receiver in
                let herald = try await HeraldProcess(directory: directory, config: Self.config)
                let created = try await herald.request(.POST, "/v1/webhooks", json: #"{"url": "\#(receiver.url)"}"#)
                #expect(created.status == 201)
                let endpoint = try #require(created.body["id"] as? String)
                let secret = try #require(created.body["secret"] as? String)
                #expect(secret.hasPrefix("whsec_"))
                try receiver.trust(secret)
                let shown = try await herald.request(.GET, "/v1/webhooks/\(endpoint)")
                #expect(shown.body["secret"] == nil, "the secret is shown once")

                let email = #"{"from":"ada@herald-test.example","to":["bounce@herald-test.example"],"subject":"s","text":"t"}"#
                let id = try #require(try await herald.send(email).body["id"] as? String)
                var received: [WebhookReceiver.Received] = []
                try await waitUntil(timeout: .seconds(30)) {
                    received = receiver.received()
                    return Set(received.filter { $0.status == 200 }.compactMap(\.type)) == ["email.queued", "email.sent", "email.bounced"]
                } state: {
                    "\(received.map { "\($0.type ?? "?") \($0.status)" })"
                }

                let unverified = received.filter { !$0.verified }
                #expect(unverified.isEmpty, "every request verified by standardwebhooks")
                // The first request was answered 500: the same message came again, same id.
                let first = try #require(received.first)
                #expect(first.status == 500)
                #expect(received.filter { $0.id == first.id }.map(\.status) == [500, 200])
                #expect(Set(received.map(\.id)).count == 3, "one webhook-id per message")
                let bounced = try #require(received.first { $0.type == "email.bounced" })
                let data = try #require(
                    (try JSONSerialization.jsonObject(with: Data(bounced.body.utf8)) as? [String: Any])?["data"] as? [String: Any])
                #expect(data["email_id"] as? String == id)
                #expect(data["recipient"] as? String == "bounce@herald-test.example")
                #expect((data["bounce"] as? [String: Any])?["type"] as? String == "hard")

                let log = try await herald.request(.GET, "/v1/webhooks/\(endpoint)/deliveries")
                let attempts = try #require(log.body["data"] as? [[String: Any]])
                #expect(attempts.count == 4)
                #expect(attempts.compactMap { $0["status_code"] as? Int }.sorted() == [200, 200, 200, 500])
                let retried = try #require(attempts.first { $0["status_code"] as? Int == 500 })
                #expect(retried["outcome"] as? String == "retry")
                #expect(retried["response"] as? String == "ok")

                // A replay sends the message again, with its id.
                let replay = try await herald.request(
                    .POST, "/v1/webhooks/\(endpoint)/replay", json: #"{"message_id": "\#(first.id ?? "")"}"#)
                #expect(replay.body["replayed"] as? Int == 1)
                try await waitUntil(timeout: .seconds(10)) { receiver.received().filter { $0.id == first.id }.count == 3 }
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `endpoints are checked when made: private targets refused by default, bad fields named at once`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: "providers: [{name: sandbox, type: sandbox}]")
            let privateTarget = try await herald.request(.POST, "/v1/webhooks", json: #"{"url": "http://127.0.0.1:9/x"}"#)
            #expect(privateTarget.status == 422)
            let bad = try await herald.request(.POST, "/v1/webhooks", json: #"{"url": 5, "events": ["email.nope"], "enabled": 1, "x": 1}"#)
            #expect(bad.status == 422)
            let fields = ((bad.body["error"] as? [String: Any])?["details"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
            #expect(Set(fields) == ["url", "events[0]", "enabled", "x"])
            let created = try await herald.request(
                .POST, "/v1/webhooks", json: #"{"url": "https://hooks.herald-test.example/in", "events": ["email.bounced"]}"#)
            #expect(created.status == 201)
            let id = try #require(created.body["id"] as? String)
            let rotated = try await herald.request(.POST, "/v1/webhooks/\(id)/rotate-secret")
            #expect((rotated.body["secret"] as? String)?.hasPrefix("whsec_") == true)
            #expect(rotated.body["secret"] as? String != created.body["secret"] as? String)
            let disabled = try await herald.request(.PATCH, "/v1/webhooks/\(id)", json: #"{"enabled": false}"#)
            #expect(disabled.body["enabled"] as? Bool == false)
            #expect(try await herald.request(.DELETE, "/v1/webhooks/\(id)").status == 204)
            #expect(try await herald.request(.GET, "/v1/webhooks/\(id)").status == 404)
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    @Test func `a host name is checked by the address it resolves to: refused when private, delivered there when allowed`()
        async throws
    {
        let name = try Self.loopbackName()
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(in: directory) { receiver in
                let url = receiver.url.replacingOccurrences(of: "127.0.0.1", with: name)
                // By default the URL passes (it names a host), and the address it resolves to does not.
                let strict = try await HeraldProcess(
                    directory: try Self.subdirectory("strict", of: directory), config: "providers: [{name: sandbox, type: sandbox}]")
                let created = try await strict.request(.POST, "/v1/webhooks", json: #"{"url": "\#(url)"}"#)
                #expect(created.status == 201)
                let endpoint = try #require(created.body["id"] as? String)
                _ = try await strict.send(Fixtures.email(1))
                var shown: [String: Any] = [:]
                try await waitUntil(timeout: .seconds(10)) {
                    shown = try await strict.request(.GET, "/v1/webhooks/\(endpoint)").body
                    return shown["enabled"] as? Bool == false
                }
                let reason = shown["disabled_reason"] as? String ?? ""
                #expect(reason.contains("\(name) resolves to 127.0.0.1"), "\(reason)")
                #expect(receiver.received().isEmpty, "nothing reached the private address")
                strict.signal(SIGTERM)
                #expect(try await strict.waitForExit() == 0)

                // Allowed, the message goes to the address the name resolved to.
                let open = try await HeraldProcess(directory: try Self.subdirectory("open", of: directory), config: Self.config)
                let opened = try await open.request(.POST, "/v1/webhooks", json: #"{"url": "\#(url)", "events": ["email.queued"]}"#)
                try receiver.trust(try #require(opened.body["secret"] as? String))
                _ = try await open.send(Fixtures.email(2))
                try await waitUntil(timeout: .seconds(10)) { receiver.received().contains { $0.status == 200 && $0.verified } }
                open.signal(SIGTERM)
                #expect(try await open.waitForExit() == 0)
            }
        }
    }

    @Test func `a node that does not deliver emails sends no webhooks; one that delivers sends what it left, from a thread at nice 19`()
        async throws
    {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(in: directory) { receiver in
                let acceptOnly = try await HeraldProcess(
                    directory: directory, config: "\(Self.config)\ndispatch: {enabled: false}")
                _ = try await register(receiver, on: acceptOnly, events: #"["email.queued"]"#)
                _ = try await acceptOnly.send(Fixtures.email(1))
                try await Task.sleep(for: .seconds(1))
                #expect(receiver.received().isEmpty)
                #expect(!acceptOnly.threadNiceValues.contains(19), "no webhook loop on a node that sends none")
                acceptOnly.signal(SIGTERM)
                #expect(try await acceptOnly.waitForExit() == 0)
                // The same database and key, delivering.
                let delivering = try await HeraldProcess(directory: directory, config: Self.config)
                try await waitUntil(timeout: .seconds(10)) { receiver.received().contains { $0.verified && $0.type == "email.queued" } }
                // Accepts come first: webhooks go out from one thread the kernel runs last.
                let niceValues = delivering.threadNiceValues
                #expect(niceValues.filter { $0 == 19 }.count == 1, "\(niceValues)")
                delivering.signal(SIGTERM)
                #expect(try await delivering.waitForExit() == 0)
            }
        }
    }

    /// A name other than `localhost` that `/etc/hosts` maps to 127.0.0.1, where the receiver
    /// listens: the machine's own name, on the machines the tests run on.
    static func loopbackName() throws -> String {
        let hosts = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        for line in hosts.split(separator: "\n") {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.first == "127.0.0.1" else { continue }
            if let name = fields.dropFirst().first(where: { !$0.hasPrefix("localhost") && !$0.hasPrefix("#") }) { return String(name) }
        }
        throw TestFailure("this test needs a name other than localhost for 127.0.0.1 in /etc/hosts, such as the machine's own")
    }

    static func subdirectory(_ name: String, of directory: URL) throws -> URL {
        let subdirectory = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: subdirectory, withIntermediateDirectories: true)
        return subdirectory
    }

    /// Registers an endpoint for `receiver` and makes the receiver trust its secret; returns
    /// the endpoint's id.
    func register(_ receiver: WebhookReceiver, on herald: HeraldProcess, events: String = "[]") async throws -> String {
        let created = try await herald.request(.POST, "/v1/webhooks", json: #"{"url": "\#(receiver.url)", "events": \#(events)}"#)
        try receiver.trust(try #require(created.body["secret"] as? String))
        return try #require(created.body["id"] as? String)
    }

    @Test
    func `through 500, 429 with Retry-After, a dropped connection, a timeout and a kill -9, every message arrives, repeats with their id`()
        async throws
    {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(answers: ["500", "429+1", "drop", "slow+3"], in: directory) { receiver in
                let config = """
                    providers: [{name: sandbox, type: sandbox, events: {simulate: false}}]
                    webhooks: {allow_private_targets: true, timeout_seconds: 1}
                    """
                var herald = try await HeraldProcess(directory: directory, config: config)
                _ = try await register(receiver, on: herald, events: #"["email.queued", "email.sent"]"#)
                var accepted: [String] = []
                for index in 0..<4 { accepted.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
                // Emails accepted, then the process killed at once: their messages are in the
                // outbox, some perhaps on their way.
                for index in 4..<12 { accepted.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
                herald.signal(SIGKILL)
                _ = try await herald.waitForExit()
                herald = try await HeraldProcess(directory: directory, config: config, port: herald.port, output: herald.output)

                let expected = Set(accepted.flatMap { ["email.queued \($0)", "email.sent \($0)"] })
                var delivered: Set<String> = []
                try await waitUntil(timeout: .seconds(40)) {
                    delivered = Set(receiver.received().filter { $0.status == 200 }.compactMap(Self.summary))
                    return delivered.isSuperset(of: expected)
                } state: {
                    "missing: \(expected.subtracting(delivered).sorted().prefix(5))"
                }

                let received = receiver.received()
                #expect(received.allSatisfy { $0.verified })
                #expect(Set(received.map(\.status)).isSuperset(of: [500, 429, 0, 200]), "\(received.map(\.status))")
                // Every repeat carries its message's id and body.
                for (id, copies) in Dictionary(grouping: received, by: { $0.id ?? "" }) {
                    #expect(Set(copies.map(\.body)).count == 1, "webhook-id \(id) came with different bodies")
                }
                #expect(Set(received.compactMap(\.id)).count == expected.count, "one webhook-id per message")
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `an endpoint that answers 410 is disabled with the reason, and gets nothing more`() async throws {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(answers: ["410"], in: directory) { receiver in
                let herald = try await HeraldProcess(directory: directory, config: Self.config)
                let endpoint = try await register(receiver, on: herald, events: #"["email.queued"]"#)
                _ = try await herald.send(Fixtures.email(1))
                try await waitUntil(timeout: .seconds(10)) {
                    try await herald.request(.GET, "/v1/webhooks/\(endpoint)").body["enabled"] as? Bool == false
                }
                let shown = try await herald.request(.GET, "/v1/webhooks/\(endpoint)")
                #expect(shown.body["disabled_reason"] as? String == "the endpoint answered 410 Gone")
                _ = try await herald.send(Fixtures.email(2))
                try await Task.sleep(for: .seconds(1))
                #expect(receiver.received().count == 1)
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `a dead endpoint's breaker opens: its messages wait without tries, and another endpoint gets all of its own`()
        async throws
    {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(in: directory) { receiver in
                let herald = try await HeraldProcess(directory: directory, config: Self.config)
                _ = try await register(receiver, on: herald, events: #"["email.queued"]"#)
                // Nothing listens there: every try fails.
                let dead = try await herald.request(
                    .POST, "/v1/webhooks",
                    json: #"{"url": "http://127.0.0.1:\#(try HeraldProcess.freePort())/in", "events": ["email.queued"]}"#)
                let deadID = try #require(dead.body["id"] as? String)
                for index in 0..<20 { _ = try await herald.send(Fixtures.email(index)) }
                try await waitUntil(timeout: .seconds(20)) { receiver.received().filter { $0.status == 200 }.count == 20 }

                // The first tries fail (each after the 3-second connect timeout) and open the
                // breaker after five; the messages after those, and the retries due 5 s after
                // each try, wait for it instead of being tried. Without the breaker every message
                // is tried twice by then: 40 tries.
                try await Task.sleep(for: .seconds(12))
                let log =
                    try await herald.request(.GET, "/v1/webhooks/\(deadID)/deliveries?limit=200").body["data"] as? [[String: Any]] ?? []
                #expect(
                    (5...20).contains(log.count), "\(log.map { "\($0["at"] ?? "") \($0["error"] ?? "") \($0["next_attempt_at"] ?? "")" })")
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    /// `type email_id` of a received webhook.
    static func summary(_ received: WebhookReceiver.Received) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(received.body.utf8)) as? [String: Any],
            let type = object["type"] as? String, let id = (object["data"] as? [String: Any])?["email_id"] as? String
        else { return nil }
        return "\(type) \(id)"
    }
}
