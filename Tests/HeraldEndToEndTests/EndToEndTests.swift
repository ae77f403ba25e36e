import Foundation
import HeraldTesting
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built binary, kills it, restarts it and checks what clients were promised.
@Suite("End to end", .serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    @Test func `every email answered 202 is sent after kill -9 under load`() async throws {
        try await withTemporaryDirectory { directory in
            let outbox = directory.appendingPathComponent("outbox")
            let config = """
                dispatch:
                  concurrency: 16
                providers:
                  - name: files
                    type: file
                    directory: \(outbox.path)
                """
            let first = try await HeraldProcess(directory: directory, config: config)
            let accepted = AcceptedIDs()
            let total = 1000
            try await withThrowingTaskGroup(of: Void.self) { group in
                // 32 clients submit 1,000 emails between them; the process dies part way through.
                for client in 0..<32 {
                    group.addTask {
                        for index in stride(from: client, to: total, by: 32) {
                            // Once the process is gone every client stops at its first failed request.
                            guard let response = try? await first.send(Fixtures.email(index)) else { break }
                            if response.status == 202, let id = response.body["id"] as? String { accepted.add(id) }
                        }
                    }
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while accepted.count < total / 2 {
                        guard ContinuousClock.now < deadline else { throw TestFailure("half the emails were not accepted in 60 s") }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    first.signal(SIGKILL)
                }
                try await group.waitForAll()
            }
            #expect(try await first.waitForExit() == SIGKILL)
            let promised = accepted.ids
            #expect(promised.count >= total / 2 && promised.count < total)

            let second = try await HeraldProcess(directory: directory, config: config)
            try await second.waitUntil(promised, are: "sent", timeout: .seconds(120))

            // A delivery is a file; an email delivered twice must show why in its history.
            let files = try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }
            let deliveries = Dictionary(grouping: files) { String($0.prefix(26)) }
            for id in promised { #expect(deliveries[id] != nil, "no delivery of \(id)") }
            for (id, copies) in deliveries where copies.count > 1 {
                let attempts = try await second.email(id)["attempts"] as? [[String: Any]] ?? []
                #expect(attempts.contains { $0["error_class"] as? String == "ambiguous" }, "\(id) was delivered \(copies.count) times")
            }
            second.signal(SIGTERM)
            #expect(try await second.waitForExit() == 0)
        }
    }

    @Test func `keeps a pause and the day's send count across a restart`() async throws {
        try await withTemporaryDirectory { directory in
            let config = """
                providers:
                  - {name: primary, type: sandbox, daily_quota: 4}
                  - {name: secondary, type: sandbox}
                  - {name: spare, type: sandbox}
                """
            let first = try await HeraldProcess(directory: directory, config: config)
            var ids: [String] = []
            for index in 0..<3 { ids.append(try #require(try await first.send(Fixtures.email(index)).body["id"] as? String)) }
            try await first.waitUntil(ids, are: "sent")
            let paused = try await first.request(.POST, "/v1/admin/providers/secondary/pause", json: "")
            #expect(paused.status == 200)
            first.signal(SIGKILL)
            _ = try await first.waitForExit()

            let second = try await HeraldProcess(directory: directory, config: config)
            let providers = try await second.providers()
            #expect(providers.map { $0["state"] as? String } == ["healthy", "paused", "healthy"])
            let daily = (providers[0]["quota"] as? [String: Any])?["daily"] as? [String: Any]
            #expect(daily?["used"] as? Int == 3)
            ids = []
            for index in 0..<4 { ids.append(try #require(try await second.send(Fixtures.email(index)).body["id"] as? String)) }
            try await second.waitUntil(ids, are: "sent")
            var providerOf: [String] = []
            for id in ids { providerOf.append(try await second.email(id)["provider"] as? String ?? "?") }
            #expect(providerOf.filter { $0 == "primary" }.count == 1, "one send was left of the primary's quota of 4")
            #expect(providerOf.filter { $0 == "spare" }.count == 3, "the paused secondary stays paused")
            second.signal(SIGTERM)
            #expect(try await second.waitForExit() == 0)
        }
    }

    @Test func `fails over while the primary fails and returns to it once healed`() async throws {
        try await withTemporaryDirectory { directory in
            let config = """
                retry:
                  base_seconds: 0.2
                  cap_seconds: 1
                breaker:
                  minimum_calls: 5
                  consecutive_failures: 5
                  open_seconds: 3
                  half_open_probes: 1
                dispatch:
                  concurrency: 4
                providers:
                  - name: primary
                    type: sandbox
                    failure_rate: 1
                    failure_class: transient
                  - name: secondary
                    type: sandbox
                """
            let herald = try await HeraldProcess(directory: directory, config: config)
            let start = ContinuousClock.now
            var ids: [String] = []
            for index in 0..<30 {
                let response = try await herald.send(Fixtures.email(index))
                ids.append(try #require(response.body["id"] as? String))
            }
            try await herald.waitUntil(ids, are: "sent")
            let elapsed = ContinuousClock.now - start
            for id in ids { #expect(try await herald.email(id)["provider"] as? String == "secondary") }
            var primaryAttempts = 0
            for id in ids {
                let attempts = try await herald.email(id)["attempts"] as? [[String: Any]] ?? []
                primaryAttempts += attempts.filter { $0["provider"] as? String == "primary" }.count
            }
            // The breaker opens at the fifth failure in a row; the three other rounds in flight
            // may have taken their permits before it did; after that only the half-open probe of
            // each 3 s open period reaches the primary.
            let openPeriods = Int((elapsed / .seconds(3)).rounded(.up))
            #expect(primaryAttempts <= 5 + (4 - 1) + openPeriods * 1, "\(primaryAttempts) attempts on the primary in \(elapsed)")
            #expect(try await herald.providers().first?["state"] as? String == "open")

            let healed = try await herald.request(.PUT, "/v1/admin/providers/primary/sandbox", json: "{}")
            #expect(healed.status == 200)
            let deadline = ContinuousClock.now + .seconds(20)
            var returned = false
            while !returned && ContinuousClock.now < deadline {
                let id = try #require(try await herald.send(Fixtures.email(99)).body["id"] as? String)
                try await herald.waitUntil([id], are: "sent")
                returned = try await herald.email(id)["provider"] as? String == "primary"
                if !returned { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(returned, "traffic did not return to the healed primary")
            #expect(try await herald.providers().first?["state"] as? String == "healthy")

            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
            // Logs carry ids, never addresses, subjects or bodies.
            let log = herald.log
            #expect(log.contains(ids[0]))
            #expect(!log.contains("herald-test.example"))
            #expect(!log.contains(Fixtures.subject))
            #expect(!log.contains(Fixtures.body))
        }
    }

    @Test func `drains on SIGTERM, exits 0 and loses nothing`() async throws {
        try await withTemporaryDirectory { directory in
            let config = """
                shutdown:
                  drain_seconds: 1
                providers:
                  - name: slow
                    type: sandbox
                    latency_ms: 300
                """
            let herald = try await HeraldProcess(directory: directory, config: config)
            var ids: [String] = []
            for index in 0..<20 {
                ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String))
            }
            herald.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            let ready = try await HTTP.shared.request(.GET, "\(herald.baseURL)/readyz")
            #expect(ready.status == 503)
            let refused = try await herald.send(Fixtures.email(0))
            #expect(refused.status == 503)
            #expect(try await herald.waitForExit() == 0)

            let restarted = try await HeraldProcess(directory: directory, config: config)
            try await restarted.waitUntil(ids, are: "sent")
            restarted.signal(SIGTERM)
            #expect(try await restarted.waitForExit() == 0)
        }
    }

    @Test func `delivers through Amazon SES (moto) as configured`() async throws {
        let endpoint = try Peers.require("HERALD_TEST_SES_ENDPOINT")
        let key = try Peers.require("HERALD_TEST_SES_ACCESS_KEY_ID")
        let secret = try Peers.require("HERALD_TEST_SES_SECRET_ACCESS_KEY")
        try await withTemporaryDirectory { directory in
            let config = """
                providers:
                  - name: ses
                    type: ses
                    region: us-east-1
                    endpoint: \(endpoint)
                    access_key_id: \(key)
                """
            let herald = try await HeraldProcess(
                directory: directory, config: config, environment: ["HERALD_PROVIDERS_0_SECRET_ACCESS_KEY": secret]
            )
            let id = try #require(
                try await herald.send(#"{"from":"Ada <ada@herald-test.example>","to":["bob@example.com"],"subject":"Hi","text":"Hello"}"#)
                    .body["id"] as? String
            )
            try await herald.waitUntil([id], are: "sent")
            let email = try await herald.email(id)
            #expect(email["provider"] as? String == "ses")
            #expect((email["provider_message_id"] as? String)?.isEmpty == false)
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
            #expect(!herald.log.contains(secret))
        }
    }

    @Test func `delivers through an SMTP relay (smtp-sink) as configured`() async throws {
        let port = try Peers.require("HERALD_TEST_SMTP_SINK_PORT")
        try await withTemporaryDirectory { directory in
            let config = """
                providers:
                  - {name: relay, type: smtp, host: 127.0.0.1, port: \(port), tls: none}
                """
            let herald = try await HeraldProcess(directory: directory, config: config)
            var ids: [String] = []
            for index in 0..<20 {
                ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String))
            }
            try await herald.waitUntil(ids, are: "sent")
            for id in ids { #expect(try await herald.email(id)["provider"] as? String == "relay") }
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    /// A relay that refuses every connection (a fault proxy in front of smtp-sink) fails the
    /// emails; once it accepts again, the application's next emails close its breaker, and the
    /// failed ones go out by themselves, each redriven once for the recovery.
    @Test func `a relay outage fails emails and they go out once it is back, with no hand on them`() async throws {
        let sink = try Peers.require("HERALD_TEST_SMTP_SINK_PORT")
        try await withTemporaryDirectory { directory in
            let relayIsBack = directory.appendingPathComponent("relay-is-back")
            try await FaultProxy.with(
                upstream: "127.0.0.1:\(sink)", fault: FaultProxy.Fault.resetOnConnect.rawValue, protocol: .smtp, healFile: relayIsBack
            ) { port in
                // An interval of ten hours: only the relay's recovery can redrive here.
                let config = """
                    providers:
                      - {name: relay, type: smtp, host: 127.0.0.1, port: \(port), tls: none}
                    retry: {base_seconds: 0.05, cap_seconds: 0.2, max_attempts: 2}
                    breaker: {open_seconds: 1, half_open_probes: 1}
                    redrive: {interval_minutes: 600}
                    """
                let herald = try await HeraldProcess(directory: directory, config: config)
                var failed: [String] = []
                for index in 0..<10 {
                    failed.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String))
                }
                try await herald.waitUntil(failed, are: "failed")
                #expect(try await herald.email(failed[0])["failure_reason"] as? String != nil)

                try Data().write(to: relayIsBack)
                let probe = try #require(try await herald.send(Fixtures.email(10)).body["id"] as? String)
                try await herald.waitUntil([probe], are: "sent")
                try await herald.waitUntil(failed, are: "sent")
                for id in failed {
                    let events = try #require(try await herald.email(id)["events"] as? [[String: Any]])
                    let redrives = events.filter { $0["type"] as? String == "redriven" }
                    #expect(redrives.map { $0["detail"] as? String } == ["provider_recovered: relay"])
                }
                #expect(herald.log.contains("queued failed emails again"))
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    /// Retention with an archive, on the binary: sent emails are archived, then removed, and
    /// `herald archive verify` passes the files, and fails a damaged one.
    @Test func `archives sent emails before retention removes them, and verifies the archive`() async throws {
        try await withTemporaryDirectory { directory in
            let archive = directory.appendingPathComponent("archive")
            let config = """
                providers: [{name: sandbox, type: sandbox}]
                retention: {email_days: 0.00005, interval_seconds: 1, archive: "\(archive.path)"}
                """
            let herald = try await HeraldProcess(directory: directory, config: config)
            var ids: [String] = []
            for index in 0..<5 { ids.append(try #require(try await herald.send(Fixtures.email(index)).body["id"] as? String)) }
            let deadline = ContinuousClock.now + .seconds(60)
            for id in ids {
                while try await herald.request(.GET, "/v1/emails/\(id)").status != 404 {
                    guard ContinuousClock.now < deadline else { throw TestFailure("\(id) was not removed") }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)

            let tenantDirectory = archive.appendingPathComponent("default")
            let files = try FileManager.default.contentsOfDirectory(atPath: tenantDirectory.path).filter { $0.hasSuffix(".jsonl.gz") }
                .map { tenantDirectory.appendingPathComponent($0).path }
            #expect(!files.isEmpty)
            let verified = try runHerald(["archive", "verify"] + files)
            #expect(verified.status == 0, "\(verified.output)")
            let archivedCount = verified.output.split(separator: "\n").compactMap { line in
                line.split(separator: " ").firstIndex(of: "emails").map { Int(line.split(separator: " ")[$0 - 1]) ?? 0 }
            }.reduce(0, +)
            #expect(archivedCount == ids.count)
            #expect(herald.log.contains("archived emails"))
            #expect(!herald.log.contains(Fixtures.subject), "no content in the log")

            var damaged = try Data(contentsOf: URL(fileURLWithPath: files[0]))
            damaged[damaged.count / 2] ^= 0xFF
            try damaged.write(to: URL(fileURLWithPath: files[0]))
            let failed = try runHerald(["archive", "verify", files[0]])
            #expect(failed.status == 1)
            #expect(failed.output.hasPrefix("failed"))
        }
    }

    @Test func `checks each provider without sending mail`() async throws {
        let smtpPort = try Peers.require("HERALD_TEST_SMTP_SINK_PORT")
        try await withTemporaryDirectory { directory in
            let config = directory.appendingPathComponent("herald.yaml")
            // The SES check reads GetAccount, which moto does not implement, and SendGrid has no
            // server here; their own tests cover their answers. Here they point at a port where
            // nothing listens.
            try """
            providers:
              - {name: play, type: sandbox}
              - {name: outbox, type: file, directory: "\(directory.appendingPathComponent("outbox").path)"}
              - {name: unreachable, type: ses, region: us-east-1, endpoint: "http://127.0.0.1:1", access_key_id: a, secret_access_key: b}
              - {name: relay, type: smtp, host: 127.0.0.1, port: \(smtpPort), tls: none}
              - {name: api, type: sendgrid, api_key: unused, endpoint: "http://127.0.0.1:1"}
            """.write(to: config, atomically: true, encoding: .utf8)
            let check = try runHerald(["providers", "check", "--config", config.path])
            let lines = check.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 5)
            #expect(lines[0] == "ok      play (sandbox)")
            #expect(lines[1] == "ok      outbox (file)")
            #expect(lines[2].hasPrefix("failed  unreachable (ses): transient ses_connect_failed"))
            #expect(lines[3] == "ok      relay (smtp)")
            #expect(lines[4].hasPrefix("failed  api (sendgrid): transient sendgrid_connect_failed"))
            #expect(check.status == 1)
        }
    }

    @Test func `stops with exit code 2 and the key named on a bad setting`() async throws {
        try await withTemporaryDirectory { directory in
            let serve = try Command.run(
                HeraldProcess.binary.path, ["serve", "--port", "1"], environment: ["HERALD_RETRY_MAX_ATTEMPTS": "lots"],
                directory: directory)
            #expect(serve.status == 2)
            #expect(serve.errors.contains("retry.max_attempts"))
            #expect(serve.errors.contains("lots"))
        }
    }

    @Test func `sends and shows an email from the command line`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: "providers: [{name: sandbox, type: sandbox}]")
            let id = try run([
                "send", "--server", herald.baseURL, "--api-key", herald.apiKey, "--from", "ada@example.org", "--to", "bob@example.com",
                "--subject", "Hi", "--text", "Hello",
            ])
            .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.count == 26)
            try await herald.waitUntil([id], are: "sent")
            let status = try run(["status", "--server", herald.baseURL, id], environment: ["HERALD_API_KEY": herald.apiKey])
            #expect(status.contains("\"status\" : \"sent\""))

            // Keys are managed beside the running server, in its database.
            let keyID = String(herald.apiKey.split(separator: "_")[1])
            let database = ["--database", directory.appendingPathComponent("herald.db").path]
            #expect(try run(["keys", "list"] + database).contains("\(keyID)  operator  default"))
            #expect(try run(["keys", "revoke", keyID] + database).contains("revoked \(keyID)"))
            // The server remembers a key that passed for a second.
            let deadline = ContinuousClock.now + .seconds(5)
            var answer = try await herald.request(.GET, "/v1/emails/\(id)").status
            while answer != 401, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                answer = try await herald.request(.GET, "/v1/emails/\(id)").status
            }
            #expect(answer == 401)
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    @Test func `backs up a serving store under load, and restores only once no server holds it`() async throws {
        try await withTemporaryDirectory { directory in
            let config = "providers: [{name: sandbox, type: sandbox}]\ndispatch: {enabled: false}\n"
            let herald = try await HeraldProcess(directory: directory, config: config)
            let database = directory.appendingPathComponent("herald.db").path
            let backup = directory.appendingPathComponent("backup.db").path
            let accepted = AcceptedIDs()
            let stop = StopFlag()
            let (before, backedUp) = try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var index = client
                        while !stop.isSet {
                            let response = try await herald.send(Fixtures.email(index))
                            if response.status == 202, let id = response.body["id"] as? String { accepted.add(id) }
                            index += 16
                        }
                    }
                }
                let deadline = ContinuousClock.now + .seconds(60)
                while accepted.count < 300 {
                    guard ContinuousClock.now < deadline else { throw TestFailure("300 emails were not accepted in 60 s") }
                    try await Task.sleep(for: .milliseconds(10))
                }
                let before = accepted.ids
                let backedUp = try runHerald(["backup", "--database", database, "--to", backup])
                // The server went on accepting beside the backup (which may take only milliseconds).
                while accepted.count < before.count + 100 {
                    guard ContinuousClock.now < deadline else { throw TestFailure("accepts stopped after the backup") }
                    try await Task.sleep(for: .milliseconds(10))
                }
                stop.set()
                try await group.waitForAll()
                return (before, backedUp)
            }
            #expect(backedUp.status == 0, "\(backedUp.errors)")
            #expect(backedUp.output.hasPrefix("backed up "))
            // The store's own webhook key goes with it: the endpoints' secrets are sealed with it.
            let key = try Data(contentsOf: URL(fileURLWithPath: database + ".webhook-key"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: backup + ".webhook-key")) == key)

            let refused = try runHerald(["restore", "--from", backup, "--database", database, "--replace"])
            #expect(refused.status == 1)
            #expect(refused.errors.contains("stop it before restoring"), "\(refused.errors)")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)

            // Restored into a new directory, a server there has every email accepted before the backup.
            let elsewhere = directory.appendingPathComponent("restored")
            try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
            let restored = try runHerald(["restore", "--from", backup, "--database", elsewhere.appendingPathComponent("herald.db").path])
            #expect(restored.status == 0, "\(restored.errors)")
            #expect(try Data(contentsOf: elsewhere.appendingPathComponent("herald.db.webhook-key")) == key)
            let second = try await HeraldProcess(directory: elsewhere, config: config)
            var missing = 0
            for id in before where try await second.request(.GET, "/v1/emails/\(id)").status != 200 { missing += 1 }
            #expect(missing == 0, "\(missing) of \(before.count) emails accepted before the backup are not in it")
            second.signal(SIGTERM)
            #expect(try await second.waitForExit() == 0)
        }
    }

    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let result = try runHerald(arguments, environment: environment)
        #expect(result.status == 0)
        return result.output
    }

    /// Runs the herald binary to its end.
    private func runHerald(_ arguments: [String], environment: [String: String] = [:]) throws -> Command.Result {
        try Command.run(HeraldProcess.binary.path, arguments, environment: HeraldProcess.environment(environment))
    }
}

/// Tells client tasks to stop.
final class StopFlag: Sendable {
    private let storage = Atomic<Bool>(false)
    func set() { storage.store(true, ordering: .relaxed) }
    var isSet: Bool { storage.load(ordering: .relaxed) }
}

/// Ids of emails that got a 202, collected from many client tasks.
final class AcceptedIDs: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ id: String) { storage.withLock { $0.append(id) } }
    var ids: [String] { storage.withLock { $0 } }
    var count: Int { storage.withLock { $0.count } }
}
