import AsyncHTTPClient
import Synchronization
import Testing

@testable import HeraldWebhooks

/// Which client a webhook goes out through, with the names' resolution played by the test.
@Suite("Webhook connections")
struct WebhookConnectionsTests {
    /// Answers each name from a table the test changes, and counts the lookups.
    final class Names: Sendable {
        let table = Mutex<[String: [String]]>([:])
        let lookups = Mutex(0)
        /// How long each lookup takes.
        let delay = Mutex(Duration.zero)

        func resolve(_ host: String) async throws -> [String] {
            lookups.withLock { $0 += 1 }
            try await Task.sleep(for: delay.withLock { $0 })
            guard let addresses = table.withLock({ $0[host] }) else { throw WebhookConnections.ResolutionFailure(host: host) }
            return addresses
        }
    }

    /// `requestTimeout` also bounds each lookup: long by default, so that a loaded machine
    /// running every suite at once does not time out an answer the test gave at once.
    func withConnections(
        allowPrivate: Bool = false, resolutionLifetime: Duration = .seconds(60), requestTimeout: Duration = .seconds(30), names: Names,
        _ body: (WebhookConnections) async throws -> Void
    ) async throws {
        let connections = WebhookConnections(
            configuration: HTTPClient.Configuration(), allowPrivate: allowPrivate, requestTimeout: requestTimeout,
            resolutionLifetime: resolutionLifetime, resolve: names.resolve)
        do {
            try await body(connections)
        } catch {
            await connections.shutdown()
            throw error
        }
        await connections.shutdown()
    }

    @Test func `a name that resolves to a private address is refused, whatever else it resolves to`() async throws {
        let names = Names()
        names.table.withLock {
            $0["rebound.example"] = ["203.0.113.7", "10.0.0.5"]
            $0["metadata.example"] = ["169.254.169.254"]
            $0["v6.example"] = ["::ffff:127.0.0.1"]
        }
        try await withConnections(names: names) { connections in
            for (host, address) in [
                ("rebound.example", "10.0.0.5"), ("metadata.example", "169.254.169.254"), ("v6.example", "::ffff:127.0.0.1"),
            ] {
                let refusal = await #expect(throws: WebhookTarget.Refusal.self) {
                    _ = try await connections.client(for: "https://\(host)/hooks")
                }
                #expect(refusal?.description.contains("\(host) resolves to \(address)") == true, "\(refusal?.description ?? "")")
            }
        }
    }

    @Test func `deliveries to a name that does not answer share one lookup and give up at the request timeout`() async throws {
        let names = Names()
        names.table.withLock { $0["slow.example"] = ["203.0.113.7"] }
        names.delay.withLock { $0 = .seconds(600) }
        try await withConnections(requestTimeout: .seconds(2), names: names) { connections in
            let started = ContinuousClock.now
            let failures = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        do {
                            _ = try await connections.client(for: "https://slow.example/hooks")
                            return nil
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(failures == Array(repeating: "slow.example did not resolve within 2.0 seconds", count: 5))
            // The request timeout is 2 s; the lookup would take 600.
            #expect(ContinuousClock.now - started < .seconds(120))
            #expect(names.lookups.withLock { $0 } == 1)
        }
    }

    @Test func `a name is pinned to the address checked, and to a new one only once it resolves again`() async throws {
        let names = Names()
        names.table.withLock { $0["hooks.example"] = ["203.0.113.7"] }
        try await withConnections(names: names) { connections in
            let first = try await connections.client(for: "https://hooks.example/a")
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.7")
            // Within the resolution's lifetime the name is not looked up again, even if its
            // records now say otherwise: the pinned address is the one checked.
            names.table.withLock { $0["hooks.example"] = ["10.0.0.5"] }
            #expect(try await connections.client(for: "https://hooks.example/b") === first)
            #expect(names.lookups.withLock { $0 } == 1)
        }
        try await withConnections(resolutionLifetime: .zero, names: names) { connections in
            names.table.withLock { $0["hooks.example"] = ["203.0.113.7"] }
            let first = try await connections.client(for: "https://hooks.example/a")
            #expect(try await connections.client(for: "https://hooks.example/a") === first, "the same address keeps its client")
            names.table.withLock { $0["hooks.example"] = ["203.0.113.8"] }
            let moved = try await connections.client(for: "https://hooks.example/a")
            #expect(moved !== first)
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.8")
            names.table.withLock { $0["hooks.example"] = ["10.0.0.5"] }
            await #expect(throws: WebhookTarget.Refusal.self) { _ = try await connections.client(for: "https://hooks.example/a") }
        }
    }

    /// An address that gave no answer is set aside: the host's next delivery goes to its next
    /// address, round to the first again, and a new resolution keeps what was set aside while
    /// the name still has that address. A name with one address keeps it.
    @Test func `an address that gave no answer is set aside for the name's next one`() async throws {
        let names = Names()
        names.table.withLock { $0["hooks.example"] = ["203.0.113.7", "203.0.113.8"] }
        names.table.withLock { $0["single.example"] = ["203.0.113.9"] }
        try await withConnections(resolutionLifetime: .zero, names: names) { connections in
            let first = try await connections.client(for: "https://hooks.example/a")
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.7")
            await connections.setAside(addressOf: "https://hooks.example/a")
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.8")
            let second = try await connections.client(for: "https://hooks.example/b")
            #expect(second !== first)
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.8", "resolved again, the set-aside address stays aside")
            await connections.setAside(addressOf: "https://hooks.example/b")
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.7")
            names.table.withLock { $0["hooks.example"] = ["203.0.113.10"] }
            _ = try await connections.client(for: "https://hooks.example/c")
            #expect(connections.pinnedAddress(of: "hooks.example") == "203.0.113.10", "an address the name lost is left")

            _ = try await connections.client(for: "https://single.example/a")
            await connections.setAside(addressOf: "https://single.example/a")
            #expect(connections.pinnedAddress(of: "single.example") == "203.0.113.9")
        }
    }

    @Test func `an address needs no lookup, a name that does not resolve fails, and private names pass when allowed`() async throws {
        let names = Names()
        names.table.withLock { $0["inside.example"] = ["192.168.1.20"] }
        try await withConnections(names: names) { connections in
            let literal = try await connections.client(for: "https://203.0.113.7/hooks")
            #expect(try await connections.client(for: "https://[2001:db8::1]/hooks") === literal)
            #expect(names.lookups.withLock { $0 } == 0)
            await #expect(throws: WebhookConnections.ResolutionFailure.self) {
                _ = try await connections.client(for: "https://nowhere.example/hooks")
            }
        }
        try await withConnections(allowPrivate: true, names: names) { connections in
            _ = try await connections.client(for: "http://inside.example:8080/hooks")
            #expect(connections.pinnedAddress(of: "inside.example") == "192.168.1.20")
        }
    }

    @Test func `the system resolver reads the hosts file`() async throws {
        #expect(try await WebhookConnections.systemAddresses(of: "localhost").contains { $0 == "127.0.0.1" || $0 == "::1" })
        await #expect(throws: WebhookConnections.ResolutionFailure.self) {
            _ = try await WebhookConnections.systemAddresses(of: "herald-test.invalid")
        }
    }
}
