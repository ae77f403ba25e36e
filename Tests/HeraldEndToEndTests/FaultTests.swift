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
        try await Self.underLoad("PostgreSQL crash ×10", nodes: nodeCount) { cluster, nodes in
            var slowestRecovery: Duration = .zero
            for _ in 0..<10 {
                try await Task.sleep(for: .seconds(1))
                try cluster.crash()
                try await Self.waitForReadiness(of: nodes[0], status: 503, within: Self.storeTimeout + .seconds(2))
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
        try await Self.underLoad("PostgreSQL frozen 10 s", nodes: nodeCount) { cluster, nodes in
            try await Task.sleep(for: .seconds(2))
            let before = nodes.map(\.residentBytes).max() ?? 0
            try cluster.freeze()
            let frozen = ContinuousClock.now
            try await Self.waitForReadiness(of: nodes[0], status: 503, within: Self.storeTimeout + .seconds(2))
            try await Task.sleep(until: frozen + .seconds(10))
            let during = nodes.map(\.residentBytes).max() ?? 0
            try cluster.thaw()
            let recovery = try await Self.recovery(of: cluster, nodes: nodes)
            // Refused requests hold nothing: memory while frozen stays near where it was.
            #expect(during < before + 100 * 1024 * 1024, "memory \(before) → \(during) bytes")
            try await Task.sleep(for: .seconds(1))
            return "recovery \(recovery.formatted), memory \(before / 1_048_576) → \(during / 1_048_576) MiB"
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
                    let id = try #require(try await acceptor.send(Fixtures.email(1)).body["id"] as? String, "after the \(fault)")
                    try await deliverer.waitUntil([id], are: "sent", timeout: .seconds(5))
                }
                try await Self.stop([acceptor, deliverer])
            }
        }
    }

    @Test func `a relay that resets after each message gets ambiguous attempts, its breaker opens, and no lease is left`()
        async throws
    {
        let sink = "127.0.0.1:\(try Peers.require("HERALD_TEST_SMTP_SINK_PORT"))"
        try await FaultProxy.with(upstream: sink, fault: FaultProxy.Fault.resetAfterBody.rawValue, protocol: .smtp) { port in
            try await withTemporaryDirectory { directory in
                let config = """
                    breaker: {consecutive_failures: 3, open_seconds: 600}
                    retry: {base_seconds: 0.2, cap_seconds: 0.5}
                    providers:
                      - {name: relay, type: smtp, host: 127.0.0.1, port: \(port), tls: none, timeout_seconds: 2, priority: 1}
                      - {name: backup, type: sandbox, priority: 2}
                    """
                let herald = try await Self.node(in: directory, "node", config: config)
                var ids: [String] = []
                for index in 0..<5 { ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
                // Each round ends at its ambiguous attempt and the email waits for its backoff:
                // a message the relay may have taken is not sent again elsewhere at once.
                try await herald.waitUntil(ids, are: "sent", timeout: .seconds(20))
                var relayAttempts: [String] = []
                for id in ids {
                    let email = try await herald.email(id)
                    let attempts = email["attempts"] as? [[String: Any]] ?? []
                    #expect(attempts.last?["provider"] as? String == "backup")
                    relayAttempts += attempts.filter { $0["provider"] as? String == "relay" }.compactMap { $0["error_class"] as? String }
                }
                // The five rounds may all have reached the relay before the third failure opened it.
                #expect(relayAttempts.count >= 3, "\(relayAttempts)")
                #expect(Set(relayAttempts) == ["ambiguous"])
                let relay = try #require(try await herald.providers().first { $0["name"] as? String == "relay" })
                #expect((relay["breaker"] as? [String: Any])?["state"] as? String == "open")
                let later = try #require(try await herald.send(Fixtures.email(99)).body["id"] as? String)
                try await herald.waitUntil([later], are: "sent")
                let attempts = try await herald.email(later)["attempts"] as? [[String: Any]] ?? []
                #expect(attempts.map { $0["provider"] as? String } == ["backup"], "the open breaker keeps the relay out")
                let queue = try await HTTP.shared.text(.GET, "\(herald.baseURL)/metrics")
                #expect(queue.contains("herald_queue_emails{status=\"sending\"} 0"), "no lease left behind")
                try await Self.stop([herald])
            }
        }
    }

    @Test func `a full disk under PostgreSQL refuses emails with 503, loses none of those accepted, and recovers`() async throws {
        try await withTemporaryDirectory { directory in
            // PostgreSQL's data directory, WAL included, on a small disk of its own.
            try await withSmallDisk(megabytes: 128, in: directory) { mount in
                try await TestCluster.with(in: mount) { cluster in
                    let config = """
                        store: {postgres: {url: "\(cluster.url)"}, timeout_ms: \(Self.storeTimeout.milliseconds)}
                        dispatch: {enabled: false}
                        providers: [{name: only, type: sandbox}]
                        """
                    let herald = try await Self.node(in: directory, "node", config: config)
                    #expect(try await herald.request(.GET, "/readyz").status == 200)
                    var accepted: [String] = []
                    for index in 0..<100 {
                        accepted.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String))
                    }
                    let filler = try fillDisk(in: mount)
                    let (more, index) = try await herald.sendUntilRefused(from: 100)
                    accepted += more
                    let ready = try await HTTP.shared.request(.GET, "\(herald.baseURL)/readyz")
                    #expect(ready.status == 503)
                    #expect(ready.body["status"] as? String == "store_unavailable")

                    try FileManager.default.removeItem(at: filler)
                    try await Self.waitForReadiness(of: herald, status: 200, within: .seconds(2))
                    #expect(try await herald.send(Fixtures.email(index)).status == 202)
                    let stored = Set(try cluster.query("SELECT id FROM emails WHERE status = 'queued'"))
                    #expect(accepted.allSatisfy(stored.contains), "every email answered 202 is stored")
                    print(
                        "faults: PostgreSQL disk full: accepted \(accepted.count) before the first 503, lost 0, ready again after space returned"
                    )
                    try await Self.stop([herald])
                }
            }
        }
    }

    // MARK: Helpers

    /// Starts a PostgreSQL of its own and `nodeCount` nodes on it, runs `scenario` while clients
    /// send emails, then checks that every email is sent and none lost, and prints a line of
    /// figures with what `scenario` returns.
    static func underLoad(
        _ name: String, nodes nodeCount: Int, _ scenario: (TestCluster, [HeraldProcess]) async throws -> String
    ) async throws {
        try await withTemporaryDirectory { directory in
            try await TestCluster.with(in: directory) { cluster in
                let outbox = directory.appendingPathComponent("outbox")
                let nodes = try await Self.nodes(nodeCount, in: directory, cluster: cluster, outbox: outbox)
                let load = Load(nodes: nodes)
                var outcome = ""
                try await load.running { outcome = try await scenario(cluster, nodes) }
                try await waitUntil(timeout: .seconds(30)) { try cluster.count("status <> 'sent'") == 0 }
                let figures = try load.judge(cluster: cluster, outbox: outbox)
                print("faults: \(name), \(nodeCount) node(s): \(figures), \(outcome)")
                for node in nodes { #expect(node.isRunning, "no node exits") }
                try await Self.stop(nodes)
            }
        }
    }

    /// Once the database is back: `/readyz` answers 200 within 2 s, and every email stored
    /// before, answered 202 or not, is sent within 10 s. Returns how long that took.
    static func recovery(of cluster: TestCluster, nodes: [HeraldProcess]) async throws -> Duration {
        let returned = ContinuousClock.now
        let before = Date().milliseconds
        try await waitForReadiness(of: nodes[0], status: 200, within: .seconds(2))
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
        #expect(answers.slowest <= FaultTests.storeTimeout * 3, "slowest answer \(answers.slowest)")
        let duplicated = try Outbox.duplicates(in: outbox, query: cluster.query)
        return
            "accepted \(answers.accepted.count), refused \(answers.byStatus[503, default: 0]) (\(answers.refusals.sorted().joined(separator: ", "))), lost \(lost.count), "
            + "duplicates \(duplicated.count) (explained), worst answer \(answers.slowest.formatted)"
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
