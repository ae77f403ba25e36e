import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP clients webhooks go out through, so that the address Herald checks is the address
/// it connects to. A target named by an address goes through one shared client (its address
/// was checked with the URL, ``WebhookTarget``). A target named by a host name goes through a
/// client of its own, pinned to the address Herald resolved and checked (AsyncHTTPClient's
/// `dnsOverride`, which keeps the name for the `Host` header, SNI and the certificate). Without
/// the pin, a name that resolves to a public address when checked and to a private one a moment
/// later, when the client resolves it again (DNS rebinding), would reach into Herald's network.
final class WebhookConnections: Sendable {
    /// Resolves a host name to its addresses, as text (`192.0.2.1`, `2001:db8::1`).
    typealias Resolver = @Sendable (_ host: String) async throws -> [String]

    private struct Pinned {
        let address: String
        /// Every address the name resolved to, in the resolver's order: the ones to try next
        /// when this one gives no answer.
        var addresses: [String]
        let client: HTTPClient
        var resolvedAt: ContinuousClock.Instant
    }

    private struct State {
        var pinned: [String: Pinned] = [:]
        /// Clients replaced by a new resolution, shut down once their last request is surely over.
        var retired: [(client: HTTPClient, at: ContinuousClock.Instant)] = []
        /// Resolutions under way, one per host, shared by every delivery waiting for it.
        var resolving: [String: Task<[String], any Error>] = [:]
    }

    /// Host names with a client at most; past it, the longest-resolved one's client retires.
    static let maximumHosts = 256

    private let configuration: HTTPClient.Configuration
    private let allowPrivate: Bool
    private let requestTimeout: Duration
    /// How long a resolution is used before the name is resolved again, as a resolver's cache would.
    private let resolutionLifetime: Duration
    private let resolve: Resolver
    private let literalClient: HTTPClient
    private let state = Mutex(State())
    /// Where the clients' connections live.
    private let eventLoops: HTTPClient.EventLoopGroupProvider

    init(
        configuration: HTTPClient.Configuration, allowPrivate: Bool, requestTimeout: Duration, eventLoops: (any EventLoopGroup)? = nil,
        resolutionLifetime: Duration = .seconds(60), resolve: @escaping Resolver = WebhookConnections.systemAddresses
    ) {
        self.eventLoops = eventLoops.map { .shared($0) } ?? .singleton
        self.configuration = configuration
        self.allowPrivate = allowPrivate
        self.requestTimeout = requestTimeout
        self.resolutionLifetime = resolutionLifetime
        self.resolve = resolve
        self.literalClient = HTTPClient(eventLoopGroupProvider: self.eventLoops, configuration: configuration)
    }

    /// The client to post to `url` with, which ``WebhookTarget/check(_:allowPrivate:)`` has
    /// accepted. Throws ``WebhookTarget/Refusal`` when the host name resolves to a loopback,
    /// private or link-local address and such targets are not allowed.
    func client(for url: String) async throws -> HTTPClient {
        guard let host = URL(string: url)?.host, !host.isEmpty else {
            throw WebhookTarget.Refusal(description: "refused target: not an http or https URL with a host")
        }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if WebhookTarget.isAddress(bare) { return literalClient }
        let now = ContinuousClock.now
        if let client = state.withLock({ state -> HTTPClient? in
            guard let pinned = state.pinned[host], now - pinned.resolvedAt < resolutionLifetime else { return nil }
            return pinned.client
        }) {
            return client
        }
        let addresses = try await addresses(of: bare)
        guard !addresses.isEmpty else { throw ResolutionFailure(host: bare) }
        if !allowPrivate, let inside = addresses.first(where: WebhookTarget.isPrivate(address:)) {
            throw WebhookTarget.Refusal(
                description: "refused target: \(bare) resolves to \(inside), a loopback, private or link-local address")
        }
        let (client, retiring) = state.withLock { state -> (HTTPClient, [HTTPClient]) in
            // An address set aside for giving no answer stays aside while the name still has it.
            if var pinned = state.pinned[host], addresses.contains(pinned.address) {
                pinned.resolvedAt = now
                pinned.addresses = addresses
                state.pinned[host] = pinned
                return (pinned.client, [])
            }
            return pin(host, to: addresses[0], of: addresses, in: &state, now: now)
        }
        for old in retiring { try? await old.shutdown() }
        return client
    }

    /// Moves `url`'s host to the next of its addresses, when it has another: the address it was
    /// pinned to gave no answer (refused the connection, timed out), and the next delivery to
    /// the host tries another one rather than the same again. The last address leads back to
    /// the first.
    func setAside(addressOf url: String) async {
        guard let host = URL(string: url)?.host else { return }
        let now = ContinuousClock.now
        let retiring = state.withLock { state -> [HTTPClient] in
            guard let pinned = state.pinned[host], pinned.addresses.count > 1,
                let index = pinned.addresses.firstIndex(of: pinned.address)
            else { return [] }
            let next = pinned.addresses[(index + 1) % pinned.addresses.count]
            return pin(host, to: next, of: pinned.addresses, in: &state, now: now).retiring
        }
        for old in retiring { try? await old.shutdown() }
    }

    /// Pins `host` to `address` with a new client, retiring the one it replaces (and the
    /// longest-resolved host's past ``maximumHosts``); returns the new client and the retired
    /// clients whose requests are surely over, to shut down.
    private func pin(
        _ host: String, to address: String, of addresses: [String], in state: inout State, now: ContinuousClock.Instant
    ) -> (client: HTTPClient, retiring: [HTTPClient]) {
        var pinnedConfiguration = configuration
        pinnedConfiguration.dnsOverride = [host: address]
        let client = HTTPClient(eventLoopGroupProvider: eventLoops, configuration: pinnedConfiguration)
        let pinned = Pinned(address: address, addresses: addresses, client: client, resolvedAt: now)
        if let replaced = state.pinned.updateValue(pinned, forKey: host) {
            state.retired.append((replaced.client, now))
        }
        if state.pinned.count > Self.maximumHosts, let oldest = state.pinned.min(by: { $0.value.resolvedAt < $1.value.resolvedAt }) {
            state.pinned[oldest.key] = nil
            state.retired.append((oldest.value.client, now))
        }
        // A retired client's requests end by the request timeout; give them that and a margin.
        let over = state.retired.filter { now - $0.at > requestTimeout * 2 }.map(\.client)
        state.retired.removeAll { now - $0.at > requestTimeout * 2 }
        return (client, over)
    }

    /// `host`'s addresses. One resolution per host at a time, which every delivery to it
    /// waits for, rather than one blocked thread each; each gives up after the request
    /// timeout, as a resolver's own timeouts and retries can take longer.
    private func addresses(of host: String) async throws -> [String] {
        let resolution = state.withLock { state in
            if let running = state.resolving[host] { return running }
            let started = Task { [resolve] in try await resolve(host) }
            state.resolving[host] = started
            return started
        }
        defer {
            state.withLock { state in
                if state.resolving[host] == resolution { state.resolving[host] = nil }
            }
        }
        return try await Self.value(
            of: resolution, within: requestTimeout,
            orThrow: ResolutionFailure(host: host, problem: "did not resolve within \(requestTimeout)"))
    }

    /// `task`'s value, or `failure` once `timeout` has passed or the caller is cancelled,
    /// whichever comes first; the task itself goes on for the others waiting for it. (Awaiting
    /// `task.value` directly would wait for it however long it takes.)
    private static func value(
        of task: Task<[String], any Error>, within timeout: Duration, orThrow failure: any Error
    ) async throws -> [String] {
        // The first outcome wins, even one that comes before the continuation is stored.
        enum Wait {
            case started
            case waiting(CheckedContinuation<[String], any Error>)
            case finished(Result<[String], any Error>)
        }
        let wait = Mutex(Wait.started)
        let finish: @Sendable (Result<[String], any Error>) -> Void = { result in
            let waiting = wait.withLock { wait -> CheckedContinuation<[String], any Error>? in
                switch wait {
                case .started:
                    wait = .finished(result)
                    return nil
                case .waiting(let continuation):
                    wait = .finished(result)
                    return continuation
                case .finished:
                    return nil
                }
            }
            waiting?.resume(with: result)
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            finish(.failure(failure))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = wait.withLock { wait -> Result<[String], any Error>? in
                    if case .finished(let result) = wait { return result }
                    wait = .waiting(continuation)
                    return nil
                }
                if let early { continuation.resume(with: early) }
                Task { finish(await task.result) }
            }
        } onCancel: {
            finish(.failure(CancellationError()))
        }
    }

    /// The address `host`'s client is pinned to, if it has one.
    func pinnedAddress(of host: String) -> String? {
        state.withLock { $0.pinned[host]?.address }
    }

    /// Shuts every client down; call once no request is in flight.
    func shutdown() async {
        let clients = state.withLock { state -> [HTTPClient] in
            defer {
                state.pinned = [:]
                state.retired = []
                state.resolving = [:]
            }
            for resolution in state.resolving.values { resolution.cancel() }
            return state.pinned.values.map(\.client) + state.retired.map(\.client)
        }
        for client in clients + [literalClient] { try? await client.shutdown() }
    }

    /// A name that resolved to no address at all, or did not resolve.
    struct ResolutionFailure: Error, CustomStringConvertible {
        let host: String
        var problem = "does not resolve"
        var description: String { "\(host) \(problem)" }
    }

    /// The system resolver (`getaddrinfo`, so `/etc/hosts` counts), run on NIO's thread pool
    /// since it blocks.
    static func systemAddresses(of host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0 else { throw ResolutionFailure(host: host) }
            defer { freeaddrinfo(list) }
            var addresses: [String] = []
            var entry = list
            while let current = entry {
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                switch current.pointee.ai_family {
                case AF_INET:
                    var address = current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                case AF_INET6:
                    var address = current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                default:
                    break
                }
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !address.isEmpty && !addresses.contains(address) { addresses.append(address) }
                entry = current.pointee.ai_next
            }
            return addresses
        }
    }
}
