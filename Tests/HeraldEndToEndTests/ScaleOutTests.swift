import Foundation
import HeraldTesting
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several `herald serve` processes on one PostgreSQL store. One test at a time: each starts
/// up to three nodes, and two of them under load at once on two cores made a breaker's open
/// period run out before the test was done with it.
@Suite("Scale-out on PostgreSQL", .serialized)
struct ScaleOutTests {
    @Test func `three nodes send every accepted email once one of them is killed`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                let outbox = directory.appendingPathComponent("outbox")
                // A short lease, so that the killed node's emails pass to the others soon.
                // A debug build serving 100-email batches on two cores can take longer than the
                // store's default timeout; this test is about nodes sharing work, not timeouts.
                let config = """
                    store:
                      postgres:
                        url: \(database.url)
                      timeout_ms: 10000
                    dispatch:
                      concurrency: 32
                      lease_seconds: 3
                    providers:
                      - name: files
                        type: file
                        directory: \(outbox.path)
                    """
                var nodes: [HeraldProcess] = []
                for index in 0..<3 { nodes.append(try await node(directory, "node-\(index)", config: config)) }

                // 10,000 emails in batches of 100, from two clients per node.
                let total = 10_000
                let clients = 6
                let accepted = try await withThrowingTaskGroup(of: [String].self) { group in
                    for client in 0..<clients {
                        let node = nodes[client % 3]
                        group.addTask {
                            var ids: [String] = []
                            for batch in stride(from: client, to: total / 100, by: clients) {
                                let emails = (0..<100).map { Fixtures.email(batch * 100 + $0) }.joined(separator: ",")
                                let response = try await node.request(.POST, "/v1/emails/batch", json: #"{"emails": [\#(emails)]}"#)
                                #expect(response.status == 202)
                                ids += (response.body["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                            }
                            return ids
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(accepted.count == total)

                // Kill one node while the queue is being worked off.
                try await waitUntil(timeout: .seconds(120)) { try database.count("status = 'sent'") >= total / 5 }
                nodes[1].signal(SIGKILL)
                #expect(try await nodes[1].waitForExit() == SIGKILL)

                try await waitUntil(timeout: .seconds(300)) { try database.count("status = 'sent'") == total }
                #expect(try database.count("true") == total)

                // Every delivery is a file; an email delivered twice must show why in its history.
                #expect(try Outbox.delivered(in: outbox) == Set(accepted))
                _ = try Outbox.duplicates(in: outbox, query: database.query)
                for node in [nodes[0], nodes[2]] { node.signal(SIGTERM) }
                for node in [nodes[0], nodes[2]] { #expect(try await node.waitForExit() == 0) }
            }
        }
    }

    @Test func `an email accepted by one node wakes another that delivers, without waiting for its poll`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                let store = "store: {postgres: {url: \"\(database.url)\"}}\nproviders: [{name: sandbox, type: sandbox}]"
                let acceptor = try await node(directory, "acceptor", config: "\(store)\ndispatch: {enabled: false}")
                // It looks for due emails once a minute, so only a notification makes it deliver sooner.
                let deliverer = try await node(directory, "deliverer", config: "\(store)\ndispatch: {poll_interval_ms: 60000}")
                try await Task.sleep(for: .milliseconds(500))  // past its first look at the queue
                let id = try #require(try await acceptor.send(Fixtures.email(1)).body["id"] as? String)
                try await deliverer.waitUntil([id], are: "sent", timeout: .seconds(10))
                for herald in [acceptor, deliverer] { herald.signal(SIGTERM) }
                for herald in [acceptor, deliverer] { #expect(try await herald.waitForExit() == 0) }
            }
        }
    }

    @Test func `a breaker one node opens holds on the others within two seconds`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                let config = """
                    store: {postgres: {url: "\(database.url)"}}
                    breaker: {minimum_calls: 3, failure_rate: 0.5, open_seconds: 600}
                    providers:
                      - {name: primary, type: sandbox}
                      - {name: secondary, type: sandbox}
                    """
                var nodes: [HeraldProcess] = []
                for index in 0..<3 { nodes.append(try await node(directory, "node-\(index)", config: config)) }
                // Only the first node's primary fails; the others' work.
                let outage = try await nodes[0].request(.PUT, "/v1/admin/providers/primary/sandbox", json: #"{"failure_rate": 1}"#)
                #expect(outage.status == 200)
                var sent = 0
                while try await primaryState(nodes[0]) != "open" {
                    _ = try await nodes[0].send(Fixtures.email(sent))
                    sent += 1
                    try #require(sent < 500, "the first node's breaker did not open")
                    try await Task.sleep(for: .milliseconds(20))
                }
                let opened = ContinuousClock.now
                for other in nodes[1...] {
                    while try await primaryState(other) != "open" {
                        try #require(ContinuousClock.now - opened < .seconds(5), "the breaker did not reach another node")
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    // Usually 10 to 250 ms (NOTIFY); one loaded CI run took 1.2 and 1.7 s, for a reason
                    // not found yet (the opening node's state write may wait for a pooled connection).
                    #expect(ContinuousClock.now - opened <= .seconds(2))
                }
                print("scale-out: the breaker reached both other nodes \(ContinuousClock.now - opened) after the first opened it")
                // And the other nodes keep traffic off it.
                var ids: [String] = []
                for index in 0..<10 {
                    ids.append(try #require(try await nodes[1].send(Fixtures.email(1000 + index)).body["id"] as? String))
                }
                try await nodes[1].waitUntil(ids, are: "sent")
                for id in ids {
                    let attempts = try await nodes[1].email(id)["attempts"] as? [[String: Any]] ?? []
                    #expect(attempts.map { $0["provider"] as? String } == ["secondary"])
                }
                for herald in nodes { herald.signal(SIGTERM) }
                for herald in nodes { #expect(try await herald.waitForExit() == 0) }
            }
        }
    }

    @Test func `three nodes together keep to a provider's send rate`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                // As in the kill test: a debug build taking 100-email batches on three nodes and two
                // cores can take longer than the store's default timeout; this test is about rates.
                let config = """
                    store: {postgres: {url: "\(database.url)"}, timeout_ms: 10000}
                    providers:
                      - {name: primary, type: sandbox, rate_per_second: 20}
                      - {name: secondary, type: sandbox}
                    """
                var nodes: [HeraldProcess] = []
                for index in 0..<3 { nodes.append(try await node(directory, "node-\(index)", config: config)) }
                let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                    for (index, node) in nodes.enumerated() {
                        group.addTask {
                            let emails = (0..<100).map { Fixtures.email(index * 100 + $0) }.joined(separator: ",")
                            let response = try await node.request(.POST, "/v1/emails/batch", json: #"{"emails": [\#(emails)]}"#)
                            #expect(response.status == 202, "\(response.body)")
                            return (response.body["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(ids.count == 300)
                try await waitUntil(timeout: .seconds(60)) {
                    try database.count("status = 'sent'") == 300
                } state: {
                    try database.describeEmails(logs: nodes.map(\.output))
                }
                // Sends through primary, and the time from its first to its last: a bucket of 20 a
                // second with a burst of 20 allows 20 + 20 × that many seconds, for all nodes.
                let row = try #require(
                    try database.query("SELECT count(*), max(started_at) - min(started_at) FROM attempts WHERE provider = 'primary'").first)
                let columns = row.split(separator: "|").compactMap { Int($0) }
                let (sends, milliseconds) = (columns[0], columns[1])
                #expect(sends > 20, "the limit was not reached, so it was not tested")
                #expect(Double(sends) <= 20 + 20 * Double(milliseconds) / 1000 + 1)
                for herald in nodes { herald.signal(SIGTERM) }
                for herald in nodes { #expect(try await herald.waitForExit() == 0) }
            }
        }
    }

    @Test func `a send rate the store cannot read passes the provider over, and the email goes out through the next`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                let config = """
                    store: {postgres: {url: "\(database.url)"}, timeout_ms: 300}
                    providers:
                      - {name: primary, type: sandbox, rate_per_second: 20}
                      - {name: secondary, type: sandbox}
                    """
                let herald = try await node(directory, "node", config: config)
                let first = try #require(try await herald.send(Fixtures.email(0)).body["id"] as? String)
                try await herald.waitUntil([first], are: "sent")
                // A transaction that holds the bucket's row: taking a token waits past the
                // store's timeout. Before, the round ended there and the email stayed leased for
                // `dispatch.lease_seconds` (120 s).
                try await database.holdingTransaction("SELECT * FROM provider_tokens FOR UPDATE") {
                    var ids: [String] = []
                    for index in 1...5 { ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
                    try await herald.waitUntil(ids, are: "sent", timeout: .seconds(20))
                    for id in ids {
                        let attempts = try await herald.email(id)["attempts"] as? [[String: Any]] ?? []
                        #expect(attempts.map { $0["provider"] as? String } == ["secondary"])
                    }
                }
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `migrate-store moves a SQLite node's emails, history, keys and suppressions into PostgreSQL`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                let single = try await node(directory, "single", config: "providers: [{name: sandbox, type: sandbox}]")
                var ids: [String] = []
                for index in 0..<20 { ids.append(try #require(try await single.send(Fixtures.email(index)).body["id"] as? String)) }
                try await single.waitUntil(ids, are: "sent")
                let later = #"{"from":"a@herald-test.example","to":["b@herald-test.example"],"text":"x","send_at":"2099-01-01T00:00:00Z"}"#
                let scheduled = try #require(
                    try await single.send(later.replacingOccurrences(of: "2099-01-01", with: Self.tomorrow)).body["id"] as? String)
                #expect(
                    try await single.request(.POST, "/v1/suppressions", json: #"{"address": "gone@herald-test.example"}"#).status == 201)
                let before = try await single.email(ids[0])
                single.signal(SIGTERM)
                #expect(try await single.waitForExit() == 0)

                let sqlite = directory.appendingPathComponent("single/herald.db").path
                let copy = try Command.run(
                    HeraldProcess.binary.path, ["migrate-store", "--from", "sqlite:\(sqlite)", "--to", "postgres:\(database.url)"],
                    environment: HeraldProcess.environment([:]))
                #expect(copy.status == 0, "\(copy.errors)")
                #expect(copy.output.contains("emails: 21\n"))
                // The minutes' counts the console's chart draws came along (accepted, sent, ...).
                #expect(copy.output.contains("activity_minutes: ") && !copy.output.contains("activity_minutes: 0\n"), "\(copy.output)")

                let cluster = try await node(
                    directory, "cluster",
                    config: "store: {postgres: {url: \"\(database.url)\"}}\nproviders: [{name: sandbox, type: sandbox}]")
                // The key of the SQLite node works on PostgreSQL: keys moved too.
                let after = try await HTTP.shared.request(.GET, "\(cluster.baseURL)/v1/emails/\(ids[0])", apiKey: single.apiKey)
                #expect(after.status == 200)
                #expect(after.body["status"] as? String == "sent")
                #expect((after.body["events"] as? [Any])?.count == (before["events"] as? [Any])?.count)
                #expect((after.body["attempts"] as? [Any])?.count == (before["attempts"] as? [Any])?.count)
                #expect(try await cluster.email(scheduled)["status"] as? String == "queued")
                #expect(try await cluster.request(.GET, "/v1/suppressions/gone@herald-test.example").status == 200)
                let fresh = try #require(try await cluster.send(Fixtures.email(99)).body["id"] as? String)
                try await cluster.waitUntil([fresh], are: "sent")

                let again = try Command.run(
                    HeraldProcess.binary.path, ["migrate-store", "--from", "sqlite:\(sqlite)", "--to", "postgres:\(database.url)"],
                    environment: HeraldProcess.environment([:]))
                #expect(again.status != 0, "a second copy into a store with emails is refused")
                cluster.signal(SIGTERM)
                #expect(try await cluster.waitForExit() == 0)
            }
        }
    }

    @Test func `three nodes deliver every webhook at least once when one is killed mid-delivery, repeats with their id`() async throws {
        try await TestDatabase.with { database in
            try await withTemporaryDirectory { directory in
                // A 500, a dropped connection and a 429 among the first answers, as well.
                try await WebhookReceiver.with(answers: ["500", "drop", "429+1"], in: directory) { receiver in
                    let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
                    // Short leases, so that the killed node's emails and messages pass to the others soon.
                    let config = """
                        store: {postgres: {url: "\(database.url)"}, timeout_ms: 10000}
                        dispatch: {lease_seconds: 3}
                        providers: [{name: sandbox, type: sandbox, events: {simulate: false}}]
                        webhooks: {allow_private_targets: true, key: "\(key)", concurrency: 16, timeout_seconds: 2, lease_seconds: 3}
                        """
                    var nodes: [HeraldProcess] = []
                    for index in 0..<3 { nodes.append(try await node(directory, "node-\(index)", config: config)) }
                    let created = try await nodes[0].request(
                        .POST, "/v1/webhooks", json: #"{"url": "\#(receiver.url)", "events": ["email.queued", "email.sent"]}"#)
                    try receiver.trust(try #require(created.body["secret"] as? String))

                    // 1,500 emails in batches of 100, a third through each node: 3,000 messages.
                    var accepted: [String] = []
                    for batch in 0..<15 {
                        let emails = (0..<100).map { Fixtures.email(batch * 100 + $0) }.joined(separator: ",")
                        let response = try await nodes[batch % 3].request(.POST, "/v1/emails/batch", json: #"{"emails": [\#(emails)]}"#)
                        #expect(response.status == 202)
                        accepted += (response.body["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                    }
                    #expect(accepted.count == 1_500)
                    let expected = Set(accepted.flatMap { ["email.queued \($0)", "email.sent \($0)"] })

                    // Killed while messages are on their way: the ones it held go out from the others.
                    try await waitUntil(timeout: .seconds(60)) { receiver.received().count >= expected.count / 4 }
                    nodes[1].signal(SIGKILL)
                    #expect(try await nodes[1].waitForExit() == SIGKILL)
                    let killedAfter = receiver.received().count

                    var delivered: Set<String> = []
                    try await waitUntil(timeout: .seconds(120)) {
                        delivered = Set(receiver.received().filter { $0.status == 200 }.compactMap(WebhooksEndToEndTests.summary))
                        return delivered.isSuperset(of: expected)
                    } state: {
                        "\(expected.subtracting(delivered).count) missing, such as \(expected.subtracting(delivered).sorted().prefix(3))"
                    }
                    let received = receiver.received()
                    #expect(received.allSatisfy { $0.verified })
                    #expect(Set(received.compactMap(\.id)).count == expected.count, "one webhook-id per message")
                    for (id, copies) in Dictionary(grouping: received, by: { $0.id ?? "" }) {
                        #expect(Set(copies.map(\.body)).count == 1, "webhook-id \(id) came with different bodies")
                    }
                    // Both survivors took part: they lease with SKIP LOCKED, not one after the other.
                    for node in [nodes[0], nodes[2]] {
                        let metrics = try await HTTP.shared.text(.GET, "\(node.baseURL)/metrics")
                        let line = metrics.split(separator: "\n").first {
                            $0.hasPrefix(#"herald_webhook_deliveries_total{outcome="delivered"}"#)
                        }
                        #expect((line?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 0, "\(line ?? "no delivered count")")
                    }
                    let repeats = received.filter { $0.status == 200 }.count - expected.count
                    print(
                        "scale-out webhooks: \(expected.count) messages, node killed after \(killedAfter) requests, \(repeats) delivered twice"
                    )
                    for node in [nodes[0], nodes[2]] { node.signal(SIGTERM) }
                    for node in [nodes[0], nodes[2]] { #expect(try await node.waitForExit() == 0) }
                }
            }
        }
    }

    /// Tomorrow's date, for a scheduled send that stays queued during the test.
    static var tomorrow: String {
        String(Date().addingTimeInterval(86_400).formatted(.iso8601).prefix(10))
    }

    private func node(_ directory: URL, _ name: String, config: String) async throws -> HeraldProcess {
        let home = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        return try await HeraldProcess(directory: home, config: config)
    }

    private func primaryState(_ herald: HeraldProcess) async throws -> String? {
        try await herald.providers().first { $0["name"] as? String == "primary" }?["state"] as? String
    }
}

extension TestDatabase {
    /// How many emails match the SQL condition.
    func count(_ condition: String) throws -> Int {
        Int(try query("SELECT count(*) FROM emails WHERE \(condition)").first ?? "") ?? -1
    }

    /// The emails' statuses with their counts, and the warnings and errors in the nodes' logs.
    func describeEmails(logs: [URL]) throws -> String {
        let statuses = try query("SELECT status, count(*) FROM emails GROUP BY status").joined(separator: ", ")
        let problems = logs.flatMap { log in
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.contains("warning") || $0.contains("error") }.suffix(5)
        }
        return "emails by status: \(statuses); last problems logged: \(problems.joined(separator: "\n"))"
    }
}
