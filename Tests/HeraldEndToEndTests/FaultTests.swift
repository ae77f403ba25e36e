import Foundation
import HeraldCore
import HeraldTesting
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What Herald does when what it depends on fails: each scenario runs the built binary against
/// a real PostgreSQL of its own, which the test crashes or freezes under load, and prints one
/// line of figures. `scripts/test` runs this suite alone, after the others.
@Suite("Faults", .serialized, .timeLimit(.minutes(10)))
struct FaultTests {
    /// The store's timeout in these tests: every request is answered within a few of these.
    static let storeTimeout: Duration = .seconds(1)

    @Test(arguments: [1, 3])
    func `every email accepted while PostgreSQL crashes and restarts ten times is sent within 10 s of its return`(nodeCount: Int)
        async throws
    {
        try await Self.underLoad("PostgreSQL crash ×10", nodes: nodeCount) { cluster, nodes, _ in
            var slowestRecovery: Duration = .zero
            for _ in 0..<10 {
                try await Task.sleep(for: .seconds(1))
                try cluster.crash()
                try await Self.waitForReadiness(of: nodes, status: 503, within: .seconds(2))
                try await Task.sleep(for: .seconds(3))
                try cluster.start()
                slowestRecovery = max(slowestRecovery, try await Self.recovery(of: cluster, nodes: nodes))
            }
            return "slowest recovery \(slowestRecovery.formatted)"
        }
    }

    @Test(arguments: [1, 3])
    func `every email accepted while PostgreSQL is frozen for 10 s is sent, and every request is answered in time`(nodeCount: Int)
        async throws
    {
        try await Self.underLoad("PostgreSQL frozen 10 s", nodes: nodeCount) { cluster, nodes, _ in
            try await Task.sleep(for: .seconds(2))
            let before = nodes.map(\.residentBytes)
            try cluster.freeze()
            let frozen = ContinuousClock.now
            try await Self.waitForReadiness(of: nodes, status: 503, within: .seconds(2))
            // Each node's memory, every half second of the freeze: refused requests hold nothing.
            var highest = before
            while ContinuousClock.now < frozen + .seconds(10) {
                try await Task.sleep(for: .milliseconds(500))
                highest = zip(highest, nodes.map(\.residentBytes)).map { max($0, $1) }
            }
            try cluster.thaw()
            let recovery = try await Self.recovery(of: cluster, nodes: nodes)
            for (node, (start, peak)) in zip(before, highest).enumerated() {
                #expect(peak < start + 32 * 1_048_576, "node \(node): memory \(start) → \(peak) bytes while frozen")
            }
            try await Task.sleep(for: .seconds(1))
            let growth = zip(before, highest).map { ($1 - $0) / 1_048_576 }.max() ?? 0
            let memory = before.map { $0 / 1_048_576 }
            return "recovery \(recovery.formatted), memory per node \(memory) MiB, at most +\(growth) MiB while frozen"
        }
    }

    @Test func `a node listening for new emails hears them again after PostgreSQL crashes or freezes`() async throws {
        try await withTemporaryDirectory { directory in
            try await TestCluster.with(in: directory) { cluster in
                let store = "store: {postgres: {url: \"\(cluster.url)\"}, timeout_ms: \(Self.storeTimeout.milliseconds)}"
                let providers = "providers: [{name: sandbox, type: sandbox}]"
                let acceptor = try await Self.node(in: directory, "acceptor", config: "\(store)\n\(providers)\ndispatch: {enabled: false}")
                // It looks for due emails once a minute, so only a notification makes it deliver sooner.
                let deliverer = try await Self.node(
                    in: directory, "deliverer", config: "\(store)\n\(providers)\ndispatch: {poll_interval_ms: 60000}")
                for fault in ["crash", "freeze"] {
                    if fault == "crash" {
                        try cluster.crash()
                        try await Task.sleep(for: .seconds(2))
                        try cluster.start()
                    } else {
                        try cluster.freeze()
                        try await Task.sleep(for: .seconds(5))
                        try cluster.thaw()
                    }
                    try await Self.waitForReadiness(of: acceptor, status: 200, within: .seconds(2))
                    // The listener may take a second to come back after a crash; then the
                    // notification of the next email reaches it.
                    try await Task.sleep(for: .seconds(2))
                    let sent = ContinuousClock.now
                    let id = try #require(try await acceptor.send(Fixtures.email(1)).body["id"] as? String, "after the \(fault)")
                    try await deliverer.waitUntil([id], are: "sent", timeout: .seconds(5))
                    print("faults: after a \(fault), a node polling once a minute delivered in \((ContinuousClock.now - sent).formatted)")
                }
                try await Self.stop([acceptor, deliverer])
            }
        }
    }

    /// A provider's network failing in one way, as the binary meets it.
    struct ProviderFault: Sendable, CustomTestStringConvertible {
        enum Adapter: String, Sendable { case smtp, ses }
        let adapter: Adapter
        /// What `scripts/peers/fault_proxy.py` does; nil for a target that is not there at all.
        let proxyFault: FaultProxy.Fault?
        /// For a target with no proxy: the host, which refuses or does not resolve.
        var host = "127.0.0.1"
        var tls = false
        let expected: ErrorClass
        var testDescription: String {
            "\(adapter.rawValue): \(proxyFault?.rawValue ?? host)\(tls ? " over TLS" : "") → \(expected.rawValue)"
        }

        static let all: [ProviderFault] = [
            ProviderFault(adapter: .smtp, proxyFault: .resetOnConnect, expected: .transient),
            ProviderFault(adapter: .smtp, proxyFault: .resetAfterBody, expected: .ambiguous),
            // The greeting never comes, or the TLS handshake never ends: nothing was sent.
            ProviderFault(adapter: .smtp, proxyFault: .silence, expected: .transient),
            ProviderFault(adapter: .smtp, proxyFault: .silence, tls: true, expected: .transient),
            ProviderFault(adapter: .smtp, proxyFault: nil, expected: .transient),
            ProviderFault(adapter: .smtp, proxyFault: nil, host: "herald-test.invalid", expected: .transient),
            ProviderFault(adapter: .ses, proxyFault: .resetAfterBody, expected: .ambiguous),
            // The request went out; no answer came within timeout_seconds.
            ProviderFault(adapter: .ses, proxyFault: .silence, expected: .ambiguous),
            ProviderFault(adapter: .ses, proxyFault: nil, expected: .transient),
        ]

        /// The provider's entry in the configuration, reaching its peer through `port`.
        func configuration(port: Int) throws -> String {
            let host = proxyFault == nil ? self.host : "127.0.0.1"
            switch adapter {
            case .smtp:
                return """
                    {name: relay, type: smtp, host: \(host), port: \(port), tls: \(tls ? "implicit" : "none"), timeout_seconds: 2,
                         priority: 1}
                    """
            case .ses:
                let key = try Peers.require("HERALD_TEST_SES_ACCESS_KEY_ID")
                let secret = try Peers.require("HERALD_TEST_SES_SECRET_ACCESS_KEY")
                return """
                    {name: relay, type: ses, region: us-east-1, endpoint: "http://\(host):\(port)", access_key_id: \(key),
                         secret_access_key: \(secret), timeout_seconds: 2, priority: 1}
                    """
            }
        }

        /// Runs `body` with the port the adapter is to reach: the proxy's, or one nobody listens on.
        func reach(_ body: (Int) async throws -> Void) async throws {
            // Port 1 (tcpmux) has no listener on a test machine; `.invalid` never resolves (RFC 6761).
            guard let proxyFault else { return try await body(1) }
            let upstream: String
            switch adapter {
            case .smtp: upstream = "127.0.0.1:\(try Peers.require("HERALD_TEST_SMTP_SINK_PORT"))"
            case .ses:
                let moto = try #require(URL(string: try Peers.require("HERALD_TEST_SES_ENDPOINT")))
                upstream = "\(moto.host!):\(moto.port!)"
            }
            try await FaultProxy.with(upstream: upstream, fault: proxyFault.rawValue, protocol: adapter == .smtp ? .smtp : .http, body)
        }
    }

    @Test(arguments: ProviderFault.all)
    func `a provider's network fault gives attempts of its class within timeout_seconds, opens the breaker, and leaves no lease`(
        fault: ProviderFault
    ) async throws {
        try await fault.reach { port in
            try await withTemporaryDirectory { directory in
                let config = """
                    breaker: {consecutive_failures: 3, open_seconds: 600}
                    retry: {base_seconds: 0.2, cap_seconds: 0.5}
                    providers:
                      - \(try fault.configuration(port: port))
                      - {name: backup, type: sandbox, priority: 2}
                    """
                let herald = try await Self.node(in: directory, "node", config: config)
                var ids: [String] = []
                for index in 0..<5 { ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
                // A transient failure goes on to the backup at once; an ambiguous one ends the
                // round and the email waits for its backoff: a message the relay may have taken
                // is not sent again elsewhere at once.
                try await herald.waitUntil(ids, are: "sent", timeout: .seconds(20))
                var relayAttempts: [[String: Any]] = []
                for id in ids {
                    let attempts = try await herald.email(id)["attempts"] as? [[String: Any]] ?? []
                    #expect(attempts.last?["provider"] as? String == "backup")
                    relayAttempts += attempts.filter { $0["provider"] as? String == "relay" }
                }
                // The five rounds may all have reached the relay before the third failure opened it.
                let classes = relayAttempts.compactMap { $0["error_class"] as? String }
                #expect(classes.count >= 3, "\(classes)")
                #expect(Set(classes) == [fault.expected.rawValue])
                let slowest = relayAttempts.compactMap { $0["latency_ms"] as? Int }.max() ?? 0
                // timeout_seconds is 2, and a second is the machine's.
                #expect(slowest <= 3_000, "every attempt ends by timeout_seconds: the slowest took \(slowest) ms")
                let relay = try #require(try await herald.providers().first { $0["name"] as? String == "relay" })
                #expect((relay["breaker"] as? [String: Any])?["state"] as? String == "open")
                let later = try #require(try await herald.send(Fixtures.email(99)).body["id"] as? String)
                try await herald.waitUntil([later], are: "sent")
                let attempts = try await herald.email(later)["attempts"] as? [[String: Any]] ?? []
                #expect(attempts.map { $0["provider"] as? String } == ["backup"], "the open breaker keeps the relay out")
                let metrics = try await HTTP.shared.text(.GET, "\(herald.baseURL)/metrics")
                #expect(metrics.contains("herald_queue_emails{status=\"sending\"} 0"), "no lease left behind")
                print("faults: \(fault.testDescription): \(classes.count) relay attempts, slowest \(slowest) ms, breaker open")
                try await Self.stop([herald])
            }
        }
    }

    @Test func `every email accepted while PostgreSQL's disk is full is sent once space returns, and the rest get 503`()
        async throws
    {
        // PostgreSQL's data directory, WAL included, on a small disk of its own; the file
        // provider's outbox stays on the test's.
        try await Self.underLoad("PostgreSQL disk full", nodes: 1, diskMegabytes: 128) { cluster, nodes, disk in
            try await Task.sleep(for: .seconds(1))
            let filler = try fillDisk(in: disk)
            try await Self.waitForReadiness(of: nodes, status: 503, within: .seconds(2))
            let ready = try await HTTP.shared.request(.GET, "\(nodes[0].baseURL)/readyz")
            #expect(ready.body["status"] as? String == "store_unavailable")
            try await Task.sleep(for: .seconds(3))
            try FileManager.default.removeItem(at: filler)
            // A server that could not write its WAL stops itself; an operator starts it again.
            let stopped = (try? cluster.query("SELECT 1")) == nil
            if stopped { try cluster.start() }
            let recovery = try await Self.recovery(of: cluster, nodes: nodes)
            return "recovery \(recovery.formatted) after space returned\(stopped ? " and the server was started again" : "")"
        }
    }

    // MARK: Helpers

    /// Starts a PostgreSQL of its own and `nodeCount` nodes on it, runs `scenario` while clients
    /// send emails, then checks that every email is sent and none lost, and prints a line of
    /// figures with what `scenario` returns.
    /// With `diskMegabytes`, the cluster's data lives on a small disk of its own, which
    /// `scenario` gets; without, on the test's.
    static func underLoad(
        _ name: String, nodes nodeCount: Int, diskMegabytes: Int? = nil,
        _ scenario: (TestCluster, [HeraldProcess], _ disk: URL) async throws -> String
    ) async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withDisk(megabytes: diskMegabytes, in: directory) { disk in
                try await TestCluster.with(in: disk) { cluster in
                    let outbox = directory.appendingPathComponent("outbox")
                    let nodes = try await Self.nodes(nodeCount, in: directory, cluster: cluster, outbox: outbox)
                    let load = Load(nodes: nodes)
                    var outcome = ""
                    try await load.running { outcome = try await scenario(cluster, nodes, disk) }
                    try await waitUntil(timeout: .seconds(30)) { try cluster.count("status <> 'sent'") == 0 }
                    let figures = try load.judge(cluster: cluster, outbox: outbox)
                    print("faults: \(name), \(nodeCount) node(s): \(figures), \(outcome)")
                    for node in nodes { #expect(node.isRunning, "no node exits") }
                    try await Self.stop(nodes)
                }
            }
        }
    }

    /// Runs `body` with a small disk of `megabytes` mounted in `directory`, or with `directory`
    /// itself when `megabytes` is nil.
    static func withDisk(megabytes: Int?, in directory: URL, _ body: (URL) async throws -> Void) async throws {
        guard let megabytes else { return try await body(directory) }
        try await withSmallDisk(megabytes: megabytes, in: directory, body)
    }

    /// Once the database is back: `/readyz` answers 200 within 2 s, and every email stored
    /// before, answered 202 or not, is sent within 10 s. Returns how long that took.
    static func recovery(of cluster: TestCluster, nodes: [HeraldProcess]) async throws -> Duration {
        let returned = ContinuousClock.now
        let before = Date().milliseconds
        try await waitForReadiness(of: nodes, status: 200, within: .seconds(2))
        do {
            try await waitUntil(timeout: .seconds(10)) { try cluster.count("status <> 'sent' AND created_at < \(before)") == 0 }
        } catch {
            // Each stuck email, with what its lease and history say and every log line about it.
            let stuck = try cluster.query(
                """
                SELECT id, status, lease_owner, lease_token, pending_attempt, due_at - \(before), updated_at - \(before),
                    (SELECT string_agg(kind || '@' || (at - \(before)), ' ' ORDER BY seq) FROM events WHERE email_id = emails.id)
                FROM emails WHERE status <> 'sent' AND created_at < \(before) LIMIT 5
                """)
            let ids = stuck.compactMap { $0.split(separator: "|").first.map(String.init) }
            let lines = nodes.enumerated().flatMap { index, node in
                node.log.split(separator: "\n").filter { line in ids.contains { line.contains($0) } }.map { "node \(index): \($0)" }
            }
            let owners = nodes.map { "pid \($0.processIdentifier)" }
            let sessions = try cluster.query(
                """
                SELECT pid, state, wait_event_type, wait_event, extract(epoch FROM now() - state_change)::int, left(query, 80)
                FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND (state <> 'idle' OR wait_event_type = 'Lock')
                """)
            throw TestFailure(
                """
                not sent 10 s after the return: \(stuck)
                nodes: \(owners)
                sessions not idle: \(sessions)
                \(lines.suffix(40).joined(separator: "\n"))
                """)
        }
        return ContinuousClock.now - returned
    }

    static func nodes(_ count: Int, in directory: URL, cluster: TestCluster, outbox: URL) async throws -> [HeraldProcess] {
        let config = """
            store:
              postgres: {url: "\(cluster.url)"}
              timeout_ms: \(storeTimeout.milliseconds)
            dispatch: {concurrency: 32}
            providers:
              - {name: files, type: file, directory: "\(outbox.path)"}
            """
        var nodes: [HeraldProcess] = []
        for index in 0..<count { nodes.append(try await node(in: directory, "node-\(index)", config: config)) }
        return nodes
    }

    static func node(in directory: URL, _ name: String, config: String) async throws -> HeraldProcess {
        let home = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        return try await HeraldProcess(directory: home, config: config)
    }

    static func stop(_ nodes: [HeraldProcess]) async throws {
        for node in nodes { node.signal(SIGTERM) }
        for node in nodes { #expect(try await node.waitForExit() == 0) }
    }

    /// Polls every node's `/readyz` at once until each answers `status`, and fails if any takes
    /// longer than `within`.
    static func waitForReadiness(of nodes: [HeraldProcess], status: Int, within bound: Duration) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { try await waitForReadiness(of: node, status: status, within: bound) } }
            try await group.waitForAll()
        }
    }

    /// Polls `/readyz` until it answers `status`, and fails if that takes longer than `within`.
    static func waitForReadiness(of node: HeraldProcess, status: Int, within bound: Duration) async throws {
        let start = ContinuousClock.now
        while (try? await HTTP.shared.request(.GET, "\(node.baseURL)/readyz").status) != status {
            guard ContinuousClock.now - start < bound + .seconds(5) else {
                throw TestFailure("/readyz did not answer \(status) within \(bound)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ContinuousClock.now - start <= bound, "/readyz answered \(status) after \(ContinuousClock.now - start)")
    }
}

/// Clients that send one email at a time to the nodes, in turn, for as long as a scenario runs,
/// and keep every answer.
final class Load: Sendable {
    struct Answers {
        var accepted: [String] = []
        var byStatus: [Int: Int] = [:]
        var unanswered = 0
        /// The error codes of 503 answers, and whether each said when to retry.
        var refusals: Set<String> = []
        var refusalsWithoutRetryAfter = 0
        var slowest: Duration = .zero
    }

    let nodes: [HeraldProcess]
    let clients: Int
    private let answers = Mutex(Answers())
    private let stopped = Atomic(false)

    init(nodes: [HeraldProcess], clients: Int = 4) {
        self.nodes = nodes
        self.clients = clients
    }

    /// Runs the clients while `scenario` runs; each finishes the request it has started.
    func running(_ scenario: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask { await self.send(from: client) }
            }
            defer { stopped.store(true, ordering: .relaxed) }
            try await scenario()
        }
    }

    private func send(from client: Int) async {
        var index = client
        while !stopped.load(ordering: .relaxed) {
            let node = nodes[index % nodes.count]
            let start = ContinuousClock.now
            let answer = try? await HTTP.shared.exchange(
                .POST, node.baseURL + "/v1/emails", json: Fixtures.email(index), apiKey: node.apiKey)
            let took = ContinuousClock.now - start
            answers.withLock { answers in
                answers.slowest = max(answers.slowest, took)
                guard let answer else {
                    answers.unanswered += 1
                    return
                }
                answers.byStatus[answer.status, default: 0] += 1
                if answer.status == 503 {
                    answers.refusals.insert((answer.body["error"] as? [String: Any])?["code"] as? String ?? "none")
                    if answer.headers.first(name: "Retry-After") == nil { answers.refusalsWithoutRetryAfter += 1 }
                }
                if answer.status == 202, let id = answer.body["id"] as? String { answers.accepted.append(id) }
            }
            index += clients
            // Between answers, not between tries: a node that refuses at once is asked again soon.
            if answer?.status != 202 { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Checks what every scenario promises and returns its figures: every email answered 202 is
    /// stored and sent, every answer came in time and was 202 or 503, and an email delivered
    /// twice shows an `ambiguous` attempt that explains it.
    func judge(cluster: TestCluster, outbox: URL) throws -> String {
        let answers = answers.withLock { $0 }
        let stored = Set(try cluster.query("SELECT id FROM emails WHERE status = 'sent'"))
        let lost = answers.accepted.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "accepted but not sent: \(lost.prefix(5))")
        #expect(answers.accepted.count > 0)
        #expect(Set(answers.byStatus.keys).isSubset(of: [202, 503]), "answers: \(answers.byStatus)")
        #expect(answers.unanswered == 0, "requests without an answer")
        // An email the store did not take, or a key it could not look up: either way, retry.
        #expect(answers.refusals.isSubset(of: ["not_accepted", "store_unavailable"]), "refusals: \(answers.refusals)")
        #expect(answers.refusalsWithoutRetryAfter == 0, "every 503 says when to retry")
        #expect(answers.slowest <= FaultTests.storeTimeout + .seconds(1), "slowest answer \(answers.slowest)")
        let duplicated = try Outbox.duplicates(in: outbox, query: cluster.query)
        // The file provider is never ambiguous: an email written twice had its lease used twice.
        #expect(duplicated.isEmpty, "delivered twice: \(duplicated.prefix(5))")
        return
            "accepted \(answers.accepted.count), refused \(answers.byStatus[503, default: 0]) (\(answers.refusals.sorted().joined(separator: ", "))), lost \(lost.count), "
            + "duplicates \(duplicated.count), worst answer \(answers.slowest.formatted)"
    }
}

extension TestCluster {
    /// How many emails match the SQL condition.
    func count(_ condition: String) throws -> Int {
        Int(try query("SELECT count(*) FROM emails WHERE \(condition)").first ?? "") ?? -1
    }
}

extension Duration {
    /// Milliseconds, as the figures print them.
    var formatted: String { "\(Int(timeInterval * 1000)) ms" }
}
