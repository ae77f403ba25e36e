import Configuration
import Foundation
import HeraldCore
import HeraldDelivery
import HeraldProviders

/// Every setting of a Herald process, read and checked once at start-up. docs/configuration.md
/// lists each key with its default.
public struct HeraldConfiguration: Sendable {
    public struct HTTP: Sendable {
        public var host = "127.0.0.1"
        public var port = 8025
        public var maxBodyBytes = 10 * 1024 * 1024
        /// Emails in one `POST /v1/emails/batch` at most.
        public var maxBatchEmails = 100
        /// Requests per second per API key, for keys without a rate of their own.
        public var rateLimitPerSecond: Double = 1000
        /// A connection that sends nothing for this long is closed.
        public var idleTimeout: Duration = .seconds(60)
        /// Connections open at once at most; more wait to be accepted until one closes.
        public var maxConnections = 4096
        /// PEM files of the certificate chain and its private key; with both, the listener
        /// speaks HTTPS only.
        public var tls: (certificateFile: String, keyFile: String)?
    }

    public struct Dispatch: Sendable {
        /// Off for a node that only accepts emails and leaves delivery to others.
        public var enabled = true
        public var concurrency = 32
        public var pollInterval: Duration = .milliseconds(250)
        public var leaseDuration: Duration = .seconds(120)
        /// How long due emails may wait with no lease answered before `/readyz` fails.
        public var stalledAfter: Duration = .seconds(30)
    }

    public struct Routing: Sendable {
        public var policy = ProviderRouter.Policy.priority
        /// A provider whose p95 latency is above this is degraded, unless it sets its own.
        public var slowThreshold: Duration = .seconds(5)
        /// How often to read the limits providers report about themselves (Amazon SES's quota).
        public var limitsRefresh: Duration = .seconds(300)
        /// How often a degraded provider gets a round as a probe of its latency.
        public var degradedProbe: Duration = .seconds(5)
    }

    public struct Shutdown: Sendable {
        /// How long `/readyz` answers 503 before the listener closes.
        public var drain: Duration = .zero
        /// How long in-flight sends get to finish before they are cancelled.
        public var deadline: Duration = .seconds(25)
    }

    public struct Metrics: Sendable {
        /// When true, `/metrics` needs a key like the `/v1` routes.
        public var requireKey = false
    }

    public enum LogFormat: String, Sendable {
        case json
        case text
    }

    public struct ProviderSettings: Sendable {
        public enum Kind: Sendable {
            case sandbox(SandboxBehavior)
            case file(directory: String)
            case ses(SESProvider.Configuration)
            case smtp(SMTPProvider.Configuration)
            case sendgrid(SendGridProvider.Configuration)
            case postmark(PostmarkProvider.Configuration)
            case mailgun(MailgunProvider.Configuration)
            case elasticEmail(ElasticEmailProvider.Configuration)
        }

        public var name: String
        public var priority: Int
        public var timeout: Duration
        public var kind: Kind
        public var weight: Double = 1
        /// Nil for the routing default.
        public var slowThreshold: Duration?
        public var ratePerSecond: Double?
        public var quotas: [SendQuota.Period: Int] = [:]
        /// How the provider's events reach Herald; nil when they do not.
        public var events: EventReception?
    }

    /// Where a PostgreSQL store is, for nodes that share one queue (`store.postgres.*`).
    public struct Postgres: Sendable, Equatable {
        public enum TLS: String, Sendable {
            case disable, prefer, require
        }

        public var host: String
        public var port = 5432
        public var username = "herald"
        /// From `password`, `password_file` or HERALD_STORE_POSTGRES_PASSWORD; never logged.
        public var password: String?
        public var database = "herald"
        /// `require` unless ``host`` is this machine.
        public var tls: TLS
        public var maxConnections = 20

        public init(host: String) {
            self.host = host
            self.tls = Self.isLoopback(host) ? .prefer : .require
        }

        /// A loopback name or address, or a Unix socket's directory.
        static func isLoopback(_ host: String) -> Bool {
            if host == "localhost" || host.hasPrefix("/") { return true }
            if host.hasPrefix("127."), host.split(separator: ".").count == 4 { return true }
            return ["::1", "[::1]", "0:0:0:0:0:0:0:1"].contains(host)
        }
    }

    public var http = HTTP()
    public var sqlitePath = "herald.db"
    /// Nil for the embedded SQLite store at ``sqlitePath``.
    public var postgres: Postgres?
    /// How long a store call may take, the wait for a connection included, before the caller
    /// gets 503; PostgreSQL only: the SQLite store's calls do not wait on a network.
    public var storeTimeout: Duration = .seconds(2)
    public var dispatch = Dispatch()
    public var retry = RetryPolicy.exponentialJitter(base: .seconds(30), cap: .seconds(900), maxAttempts: 18, maxAge: .seconds(72 * 3600))
    public var redrive = RedrivePolicy()
    public var retention = RetentionPolicy()
    public var breaker = CircuitBreaker.Configuration()
    public var routing = Routing()
    public var shutdown = Shutdown()
    public var metrics = Metrics()
    public var logFormat = LogFormat.json
    public var logLevel = "info"
    public var providers: [ProviderSettings] = HeraldConfiguration.builtInSandboxes
    /// Which provider events suppress their recipient (`events.*`).
    public var eventSuppression = EventSuppressionPolicy()
    public var webhooks = Webhooks()
    public var console = Console()
    /// True when no file or variable named providers and Herald delivers to
    /// ``builtInSandboxes``, which discard every email; `herald serve` warns of it at start.
    public internal(set) var usesBuiltInSandboxes = false

    /// Two sandbox providers, so that Herald runs and fails over with no credentials at all.
    public static let builtInSandboxes: [ProviderSettings] = [
        ProviderSettings(
            name: "sandbox-primary", priority: 1, timeout: .seconds(30), kind: .sandbox(.init()),
            events: .simulated(delay: simulatedEventDelay)),
        ProviderSettings(
            name: "sandbox-secondary", priority: 2, timeout: .seconds(30), kind: .sandbox(.init()),
            events: .simulated(delay: simulatedEventDelay)),
    ]

    public init() {}

    /// Reads every setting; ``init(flags:environment:)`` adds the checks that need to know
    /// where each setting came from.
    init(settings: SettingsReader) throws(ConfigurationError) {
        http.host = try settings.string("http.host", default: http.host)
        http.port = try settings.int("http.port", default: http.port, in: 0...65535)
        http.maxBodyBytes = try settings.int("http.max_body_bytes", default: http.maxBodyBytes, in: 1024...(256 * 1024 * 1024))
        http.maxBatchEmails = try settings.int("http.max_batch_emails", default: http.maxBatchEmails, in: 1...10_000)
        switch (try settings.optionalString("http.tls_cert_file"), try settings.optionalString("http.tls_key_file")) {
        case (let certificate?, let key?): http.tls = (certificate, key)
        case (nil, nil): break
        case (nil, _): throw ConfigurationError(key: "http.tls_cert_file", problem: "is required with http.tls_key_file")
        case (_, nil): throw ConfigurationError(key: "http.tls_key_file", problem: "is required with http.tls_cert_file")
        }
        http.rateLimitPerSecond = try settings.double(
            "http.rate_limit_per_second", default: http.rateLimitPerSecond, in: APIKey.rateRange)
        http.idleTimeout = try settings.seconds("http.idle_timeout_seconds", default: 60, in: 0.1...3600)
        http.maxConnections = try settings.int("http.max_connections", default: http.maxConnections, in: 1...1_000_000)
        sqlitePath = try settings.string("store.sqlite.path", default: sqlitePath)
        postgres = try Self.postgres(settings)
        storeTimeout = .milliseconds(try settings.int("store.timeout_ms", default: 2_000, in: 10...600_000))
        dispatch.enabled = try settings.bool("dispatch.enabled", default: dispatch.enabled)
        dispatch.concurrency = try settings.int("dispatch.concurrency", default: dispatch.concurrency, in: 1...4096)
        dispatch.pollInterval = .milliseconds(try settings.int("dispatch.poll_interval_ms", default: 250, in: 1...60_000))
        dispatch.leaseDuration = .seconds(try settings.int("dispatch.lease_seconds", default: 120, in: 1...86_400))
        dispatch.stalledAfter = try settings.seconds("dispatch.stalled_after_seconds", default: 30, in: 1...86_400)
        retry.base = try settings.seconds("retry.base_seconds", default: 30, in: 0.001...86_400)
        retry.cap = try settings.seconds("retry.cap_seconds", default: 900, in: 0.001...604_800)
        retry.maxAttempts = try settings.int("retry.max_attempts", default: 18, in: 1...1000)
        retry.maxAge = try settings.seconds("retry.max_age_hours", default: 72, in: 0.001...8760) * 3600
        redrive = try Self.redrive(settings)
        retention = try Self.retention(settings)
        breaker.failureRateThreshold = try settings.double("breaker.failure_rate", default: 0.5, in: 0.01...1)
        breaker.minimumCalls = try settings.int("breaker.minimum_calls", default: 10, in: 1...100_000)
        breaker.consecutiveFailures = try settings.int("breaker.consecutive_failures", default: 5, in: 1...100_000)
        breaker.window = try settings.seconds("breaker.window_seconds", default: 30, in: 1...3600)
        breaker.openDuration = try settings.seconds("breaker.open_seconds", default: 30, in: 0.01...86_400)
        breaker.halfOpenProbes = try settings.int("breaker.half_open_probes", default: 3, in: 1...1000)
        breaker.slowCallThreshold = .milliseconds(try settings.int("breaker.slow_call_ms", default: 10_000, in: 1...3_600_000))
        routing.policy = try Self.routingPolicy(settings)
        routing.slowThreshold = .milliseconds(try settings.int("routing.slow_ms", default: 5_000, in: 1...3_600_000))
        routing.limitsRefresh = .seconds(try settings.int("routing.limits_refresh_seconds", default: 300, in: 1...86_400))
        routing.degradedProbe = try settings.seconds("routing.degraded_probe_seconds", default: 5, in: 0.01...3600)
        shutdown.drain = try settings.seconds("shutdown.drain_seconds", default: 0, in: 0...600)
        shutdown.deadline = try settings.seconds("shutdown.deadline_seconds", default: 25, in: 0...3600)
        metrics.requireKey = try settings.bool("metrics.require_key", default: metrics.requireKey)
        let format = try settings.string("log.format", default: logFormat.rawValue)
        guard let logFormat = LogFormat(rawValue: format) else {
            throw ConfigurationError(key: "log.format", problem: "must be json or text, not '\(format)'")
        }
        self.logFormat = logFormat
        logLevel = try settings.string("log.level", default: logLevel)
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw ConfigurationError(key: "log.level", problem: "must be trace, debug, info, notice, warning, error or critical")
        }
        providers = try Self.providers(settings)
        eventSuppression = try Self.eventSuppression(settings)
        webhooks = try Self.webhooks(settings)
        console = try Self.console(settings)
    }

    /// Reads `providers.0`, `providers.1`, ... until an index has neither a name nor a type.
    private static func providers(_ settings: SettingsReader) throws(ConfigurationError) -> [ProviderSettings] {
        var providers: [ProviderSettings] = []
        for index in 0... {
            let prefix = "providers.\(index)"
            let name = try settings.optionalString("\(prefix).name")
            let type = try settings.optionalString("\(prefix).type")
            if name == nil && type == nil { break }
            guard let name, !name.isEmpty else { throw ConfigurationError(key: "\(prefix).name", problem: "is required") }
            guard let type else { throw ConfigurationError(key: "\(prefix).type", problem: "is required") }
            if providers.contains(where: { $0.name == name }) {
                throw ConfigurationError(key: "\(prefix).name", problem: "another provider is already named '\(name)'")
            }
            let priority = try settings.int("\(prefix).priority", default: index + 1, in: 0...1_000_000)
            let timeout = try settings.seconds("\(prefix).timeout_seconds", default: 30, in: 0.001...3600)
            let kind: ProviderSettings.Kind
            switch type {
            case "sandbox":
                let failureClassName = try settings.string("\(prefix).failure_class", default: ErrorClass.transient.rawValue)
                guard let failureClass = ErrorClass(rawValue: failureClassName) else {
                    let known = ErrorClass.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigurationError(key: "\(prefix).failure_class", problem: "must be one of \(known)")
                }
                let retryAfter = try settings.optionalInt("\(prefix).retry_after_seconds", in: SandboxBehavior.retryAfterRange)
                kind = .sandbox(
                    SandboxBehavior(
                        latencyMilliseconds: try settings.int("\(prefix).latency_ms", default: 0, in: SandboxBehavior.latencyRange),
                        latencyJitterMilliseconds: try settings.int(
                            "\(prefix).latency_jitter_ms", default: 0, in: SandboxBehavior.latencyRange),
                        failureRate: try settings.double("\(prefix).failure_rate", default: 0, in: 0...1),
                        failureClass: failureClass,
                        retryAfterSeconds: retryAfter
                    )
                )
            case "ses":
                let region = try settings.string("\(prefix).region", default: "")
                guard !region.isEmpty else {
                    throw ConfigurationError(key: "\(prefix).region", problem: "is required for an ses provider")
                }
                guard let accessKeyID = try settings.secret("\(prefix).access_key_id"),
                    let secretAccessKey = try settings.secret("\(prefix).secret_access_key")
                else {
                    throw ConfigurationError(
                        key: "\(prefix).secret_access_key",
                        problem: "an ses provider needs access_key_id and secret_access_key (or their _file forms)"
                    )
                }
                kind = .ses(
                    SESProvider.Configuration(
                        region: region,
                        endpoint: try settings.optionalString("\(prefix).endpoint"),
                        credentials: .init(
                            accessKeyID: accessKeyID, secretAccessKey: secretAccessKey,
                            sessionToken: try settings.secret("\(prefix).session_token")
                        ),
                        configurationSetName: try settings.optionalString("\(prefix).configuration_set"),
                        timeout: timeout,
                        maxMessageBytes: try settings.int("\(prefix).max_message_bytes", default: 40_000_000, in: 1024...100_000_000)
                    )
                )
            case "smtp":
                kind = .smtp(try Self.smtp(settings, prefix: prefix))
            case "sendgrid":
                kind = .sendgrid(
                    SendGridProvider.Configuration(
                        apiKey: try apiKey(settings, prefix: prefix, type: type),
                        endpoint: try settings.optionalString("\(prefix).endpoint"),
                        timeout: timeout,
                        maxMessageBytes: try maxMessageBytes(
                            settings, prefix: prefix, default: SendGridProvider.Configuration.defaultMaxMessageBytes)
                    )
                )
            case "postmark":
                let messageStream = try settings.string(
                    "\(prefix).message_stream", default: PostmarkProvider.Configuration.defaultMessageStream)
                guard !messageStream.isEmpty else {
                    throw ConfigurationError(key: "\(prefix).message_stream", problem: "must not be empty")
                }
                kind = .postmark(
                    PostmarkProvider.Configuration(
                        serverToken: try apiKey(settings, prefix: prefix, type: type),
                        endpoint: try settings.optionalString("\(prefix).endpoint"),
                        messageStream: messageStream,
                        timeout: timeout,
                        maxMessageBytes: try maxMessageBytes(
                            settings, prefix: prefix, default: PostmarkProvider.Configuration.defaultMaxMessageBytes)
                    )
                )
            case "mailgun":
                guard let domain = try settings.optionalString("\(prefix).domain"), !domain.isEmpty else {
                    throw ConfigurationError(key: "\(prefix).domain", problem: "is required for a mailgun provider")
                }
                let regionName = try settings.string("\(prefix).region", default: MailgunProvider.Region.us.rawValue)
                guard let region = MailgunProvider.Region(rawValue: regionName.lowercased()) else {
                    throw ConfigurationError(key: "\(prefix).region", problem: "must be us or eu, not '\(regionName)'")
                }
                kind = .mailgun(
                    MailgunProvider.Configuration(
                        apiKey: try apiKey(settings, prefix: prefix, type: type),
                        domain: domain,
                        region: region,
                        endpoint: try settings.optionalString("\(prefix).endpoint"),
                        timeout: timeout,
                        maxMessageBytes: try maxMessageBytes(
                            settings, prefix: prefix, default: MailgunProvider.Configuration.defaultMaxMessageBytes)
                    )
                )
            case "elasticemail":
                kind = .elasticEmail(
                    ElasticEmailProvider.Configuration(
                        apiKey: try apiKey(settings, prefix: prefix, type: type),
                        endpoint: try settings.optionalString("\(prefix).endpoint"),
                        timeout: timeout,
                        maxMessageBytes: try maxMessageBytes(
                            settings, prefix: prefix, default: ElasticEmailProvider.Configuration.defaultMaxMessageBytes)
                    )
                )
            case "file":
                guard let directory = try settings.optionalString("\(prefix).directory"), !directory.isEmpty else {
                    throw ConfigurationError(key: "\(prefix).directory", problem: "is required for a file provider")
                }
                kind = .file(directory: directory)
            default:
                throw ConfigurationError(key: "\(prefix).type", problem: "'\(type)' is not a provider type; use \(providerTypes)")
            }
            var provider = ProviderSettings(name: name, priority: priority, timeout: timeout, kind: kind)
            provider.weight = try settings.double("\(prefix).weight", default: 1, in: 0...1_000_000)
            provider.slowThreshold = try settings.optionalInt("\(prefix).slow_ms", in: 1...3_600_000).map { .milliseconds($0) }
            provider.ratePerSecond = try settings.optionalDouble("\(prefix).rate_per_second", in: 0.001...1_000_000)
            for (period, key) in [(SendQuota.Period.day, "daily_quota"), (.month, "monthly_quota")] {
                provider.quotas[period] = try settings.optionalInt("\(prefix).\(key)", in: 0...Int(Int32.max))
            }
            provider.events = try eventReception(settings, prefix: "\(prefix).events", kind: kind)
            providers.append(provider)
        }
        return providers
    }

    private static func routingPolicy(_ settings: SettingsReader) throws(ConfigurationError) -> ProviderRouter.Policy {
        let name = try settings.string("routing.policy", default: "priority")
        let latencyMargin = try settings.double("routing.latency_margin", default: 0.2, in: 0...1)
        switch name {
        case "priority": return .priority
        case "weighted": return .weighted
        case "latency": return .latency(margin: latencyMargin)
        default: throw ConfigurationError(key: "routing.policy", problem: "must be priority, weighted or latency, not '\(name)'")
        }
    }

    static let providerTypes = "ses, smtp, sendgrid, postmark, mailgun, elasticemail, sandbox or file"

    /// `api_key`, or the file named by `api_key_file`: required by every HTTP API provider.
    private static func apiKey(_ settings: SettingsReader, prefix: String, type: String) throws(ConfigurationError) -> String {
        guard let key = try settings.secret("\(prefix).api_key"), !key.isEmpty else {
            throw ConfigurationError(key: "\(prefix).api_key", problem: "a \(type) provider needs api_key (or api_key_file)")
        }
        return key
    }

    private static func maxMessageBytes(_ settings: SettingsReader, prefix: String, default defaultValue: Int) throws(ConfigurationError)
        -> Int
    {
        try settings.int("\(prefix).max_message_bytes", default: defaultValue, in: 1024...100_000_000)
    }
}

extension HeraldConfiguration {
    static func smtp(_ settings: SettingsReader, prefix: String) throws(ConfigurationError) -> SMTPProvider.Configuration {
        guard let host = try settings.optionalString("\(prefix).host"), !host.isEmpty else {
            throw ConfigurationError(key: "\(prefix).host", problem: "is required for an smtp provider")
        }
        let tlsName = try settings.string("\(prefix).tls", default: SMTPProvider.Configuration.TLSMode.startTLS.rawValue)
        guard let tls = SMTPProvider.Configuration.TLSMode(rawValue: tlsName) else {
            let known = SMTPProvider.Configuration.TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(key: "\(prefix).tls", problem: "must be one of \(known)")
        }
        func seconds(_ key: String, _ defaultValue: Double) throws(ConfigurationError) -> Duration {
            try settings.seconds("\(prefix).\(key)", default: defaultValue, in: 0.001...3600)
        }
        let maxMessageBytes =
            try settings.optionalString("\(prefix).max_message_bytes") == nil
            ? nil : try settings.int("\(prefix).max_message_bytes", default: 0, in: 1024...1_000_000_000)
        return SMTPProvider.Configuration(
            host: host,
            port: try settings.int("\(prefix).port", default: tls == .implicit ? 465 : 587, in: 1...65535),
            tls: tls,
            caFile: try settings.optionalString("\(prefix).ca_file"),
            username: try settings.optionalString("\(prefix).username"),
            password: try settings.secret("\(prefix).password"),
            heloName: try settings.string("\(prefix).helo_name", default: "localhost"),
            timeouts: .init(
                connect: try seconds("connect_timeout_seconds", 10),
                greeting: try seconds("greeting_timeout_seconds", 30),
                command: try seconds("command_timeout_seconds", 30),
                dataEnd: try seconds("data_end_timeout_seconds", 120)
            ),
            maxConnections: try settings.int("\(prefix).max_connections", default: 4, in: 1...256),
            maxMessageSize: maxMessageBytes
        )
    }
}

extension HeraldConfiguration {
    /// `store.postgres.url` (`postgres://user:password@host:port/database?sslmode=disable`), or
    /// `store.postgres.host` with `port`, `user`, `password`, `database`; the keys override what
    /// the URL says. Nil when none is set; a part without a URL or host is an error.
    ///
    /// TLS is `require` unless the host is this machine, so that a password never crosses a
    /// network in the clear by default.
    fileprivate static func postgres(_ settings: SettingsReader) throws(ConfigurationError) -> Postgres? {
        let url = try settings.optionalString("store.postgres.url")
        let host = try settings.optionalString("store.postgres.host")
        let port = try settings.optionalInt("store.postgres.port", in: 1...65535)
        let username = try settings.optionalString("store.postgres.user")
        let password = try settings.secret("store.postgres.password")
        let database = try settings.optionalString("store.postgres.database")
        let tls = try settings.optionalString("store.postgres.tls")
        let maxConnections = try settings.optionalInt("store.postgres.max_connections", in: 1...1000)
        var postgres: Postgres
        var urlTLS: Postgres.TLS?
        if let url {
            guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme),
                let host = components.host, !host.isEmpty
            else {
                throw ConfigurationError(key: "store.postgres.url", problem: "must be postgres://user:password@host:port/database")
            }
            postgres = Postgres(host: host)
            postgres.port = components.port ?? postgres.port
            postgres.username = components.user.flatMap { $0.removingPercentEncoding } ?? postgres.username
            postgres.password = components.password.flatMap { $0.removingPercentEncoding }
            let database = String(components.path.drop { $0 == "/" })
            if !database.isEmpty { postgres.database = database }
            if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
                guard let tls = Postgres.TLS(rawValue: mode) else {
                    throw ConfigurationError(key: "store.postgres.url", problem: "sslmode must be disable, prefer or require")
                }
                urlTLS = tls
            }
        } else if let host {
            postgres = Postgres(host: host)
        } else {
            let parts: [(String, Bool)] = [
                ("port", port != nil), ("user", username != nil), ("password", password != nil), ("database", database != nil),
                ("tls", tls != nil), ("max_connections", maxConnections != nil),
            ]
            if let (part, _) = parts.first(where: \.1) {
                throw ConfigurationError(key: "store.postgres.\(part)", problem: "needs store.postgres.url or store.postgres.host")
            }
            return nil
        }
        postgres.host = host ?? postgres.host
        postgres.port = port ?? postgres.port
        postgres.username = username ?? postgres.username
        postgres.password = password ?? postgres.password
        postgres.database = database ?? postgres.database
        postgres.maxConnections = maxConnections ?? postgres.maxConnections
        if let tls {
            guard let mode = Postgres.TLS(rawValue: tls) else {
                throw ConfigurationError(key: "store.postgres.tls", problem: "must be disable, prefer or require")
            }
            postgres.tls = mode
        } else {
            postgres.tls = urlTLS ?? (Postgres.isLoopback(postgres.host) ? .prefer : .require)
        }
        return postgres
    }
}
