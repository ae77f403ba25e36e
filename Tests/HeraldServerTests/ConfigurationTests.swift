import Foundation
import HeraldCore
import HeraldDelivery
import HeraldProviders
import HeraldServer
import HeraldTesting
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    func load(file: String? = nil, environment: [String: String] = [:], flags: [String: String] = [:]) async throws -> HeraldConfiguration {
        try await withTemporaryDirectory { directory in
            var flags = flags
            if let file {
                let path = directory.appendingPathComponent("herald.yaml")
                try file.write(to: path, atomically: true, encoding: .utf8)
                flags["config"] = path.path
            }
            return try HeraldConfiguration(flags: flags, environment: environment)
        }
    }

    func problem(file: String? = nil, environment: [String: String] = [:]) async throws -> ConfigurationError? {
        do {
            _ = try await load(file: file, environment: environment)
            return nil
        } catch let error as ConfigurationError {
            return error
        }
    }

    @Test func `runs with no settings on loopback, SQLite and two sandboxes`() async throws {
        let configuration = try await load()
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.http.port == 8025)
        #expect(configuration.sqlitePath == "herald.db")
        #expect(
            configuration.retry == .exponentialJitter(base: .seconds(30), cap: .seconds(900), maxAttempts: 18, maxAge: .seconds(72 * 3600)))
        #expect(configuration.providers.map(\.name) == ["sandbox-primary", "sandbox-secondary"])
        #expect(configuration.usesBuiltInSandboxes)
        #expect(try await load(file: Self.oneSandbox).usesBuiltInSandboxes == false)
    }

    /// A provider list for tests about other settings: a file must name its providers.
    static let oneSandbox = "providers: [{name: only, type: sandbox}]\n"

    @Test(arguments: [
        ("provider:\n  - {name: ses, type: sandbox}\n", "provider", "providers"),
        ("providers: [{name: a, type: sandbox}]\nhttp:\n  prot: 9000\n", "http.prot", "http.port"),
        ("providers: [{name: a, type: smtp, host: relay, tsl: implicit}]\n", "providers.0.tsl", "providers.0.tls"),
        ("providers: [{name: a, type: sendgrid, api_key: k, endpont: x}]\n", "providers.0.endpont", "providers.0.endpoint"),
        ("providers: [{name: a, type: sandbox}]\nstore:\n  sqlite:\n    pth: x.db\n", "store.sqlite.pth", "store.sqlite.path"),
        ("providers: [{name: a, type: sandbox}]\nbraker:\n  open_seconds: 5\n", "braker", "breaker"),
    ])
    func `stops at an unknown key at any depth and names the closest known one`(file: String, key: String, suggestion: String)
        async throws
    {
        let error = try #require(try await problem(file: file))
        #expect(error.key == key)
        #expect(error.problem == "unknown key; did you mean \(suggestion)?")
    }

    @Test func `names an unknown key that resembles nothing, and keys that belong to another provider type`() async throws {
        let unlike = try #require(try await problem(file: Self.oneSandbox + "completely_different: 1\n"))
        #expect(unlike.key == "completely_different")
        #expect(unlike.problem.hasPrefix("unknown key in "))
        // An API key is a setting of HTTP providers, not of a sandbox.
        let misplaced = try #require(try await problem(file: "providers: [{name: a, type: sandbox, api_key: k}]\n"))
        #expect(misplaced.key == "providers.0.api_key")
    }

    @Test func `refuses a file or variables that name no provider`() async throws {
        let file = try #require(try await problem(file: "http:\n  port: 9000\n"))
        #expect(file.key == "providers")
        let empty = try #require(try await problem(file: "providers: []\n"))
        #expect(empty.key == "providers")
        let variable = try #require(try await problem(environment: ["HERALD_PROVIDERS_0_PRIORITY": "1"]))
        #expect(variable.key == "providers")
        let fromEnvironment = try await load(environment: ["HERALD_PROVIDERS_0_NAME": "relay", "HERALD_PROVIDERS_0_TYPE": "sandbox"])
        #expect(fromEnvironment.providers.map(\.name) == ["relay"])
        #expect(fromEnvironment.usesBuiltInSandboxes == false)
    }

    @Test func `requires TLS to PostgreSQL unless it runs on this machine`() async throws {
        for host in ["localhost", "127.0.0.1", "127.0.1.5", "::1", "/var/run/postgresql"] {
            #expect(try await load(environment: ["HERALD_STORE_POSTGRES_HOST": host]).postgres?.tls == .prefer, "\(host)")
        }
        for host in ["db.internal", "10.0.0.5", "127.example.org", "localhost.example.org"] {
            #expect(try await load(environment: ["HERALD_STORE_POSTGRES_HOST": host]).postgres?.tls == .require, "\(host)")
        }
        let url = try await load(environment: ["HERALD_STORE_POSTGRES_URL": "postgres://u@127.0.0.1/q"])
        #expect(url.postgres?.tls == .prefer)
        let explicit = try await load(environment: ["HERALD_STORE_POSTGRES_HOST": "db.internal", "HERALD_STORE_POSTGRES_TLS": "disable"])
        #expect(explicit.postgres?.tls == .disable)
        let fromURL = try await load(environment: ["HERALD_STORE_POSTGRES_URL": "postgres://u@db.internal/q?sslmode=prefer"])
        #expect(fromURL.postgres?.tls == .prefer)
        let partOnly = try #require(try await problem(environment: ["HERALD_STORE_POSTGRES_PORT": "6432"]))
        #expect(partOnly.key == "store.postgres.port")
    }

    @Test(arguments: ["0", "-1", "NaN", "nan", "inf", "-inf", "1e300", "-1e300", "", " ", "99999999999999999999", "0x10", "1_000"])
    func `no number in a setting traps, whatever its value`(value: String) async throws {
        let keys = [
            "http.port", "http.max_body_bytes", "http.rate_limit_per_second", "dispatch.concurrency", "dispatch.poll_interval_ms",
            "dispatch.lease_seconds", "retry.base_seconds", "retry.cap_seconds", "retry.max_attempts", "retry.max_age_hours",
            "breaker.failure_rate", "breaker.minimum_calls", "breaker.window_seconds", "breaker.open_seconds",
            "breaker.consecutive_failures", "breaker.half_open_probes", "breaker.slow_call_ms", "routing.slow_ms",
            "routing.limits_refresh_seconds", "routing.degraded_probe_seconds", "routing.latency_margin", "shutdown.drain_seconds",
            "shutdown.deadline_seconds", "providers.0.priority", "providers.0.timeout_seconds", "providers.0.weight",
            "providers.0.slow_ms", "providers.0.rate_per_second", "providers.0.daily_quota", "providers.0.latency_ms",
            "providers.0.failure_rate", "providers.0.retry_after_seconds", "webhooks.concurrency", "webhooks.timeout_seconds",
            "webhooks.lease_seconds", "console.session_hours",
        ]
        for key in keys {
            let variable = "HERALD_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
            let environment = ["HERALD_PROVIDERS_0_NAME": "a", "HERALD_PROVIDERS_0_TYPE": "sandbox", variable: value]
            do {
                _ = try await load(environment: environment)
            } catch let error as ConfigurationError {
                #expect(error.key == key, "\(variable)=\(value)")
            }
        }
    }

    @Test func `selects PostgreSQL by URL or by host, keys and the environment over the URL's parts`() async throws {
        let fromURL = try #require(
            try await load(
                file: Self.oneSandbox
                    + "store:\n  postgres:\n    url: postgres://mail%40ops:s%3Acret@db.internal:6432/queue?sslmode=require\n"
            ).postgres)
        #expect(fromURL.host == "db.internal")
        #expect(fromURL.port == 6432)
        #expect(fromURL.username == "mail@ops")
        #expect(fromURL.password == "s:cret")
        #expect(fromURL.database == "queue")
        #expect(fromURL.tls == .require)

        let fromKeys = try #require(
            try await load(
                file: Self.oneSandbox + "store:\n  postgres:\n    url: postgres://u@db.internal/queue\n    database: other\n",
                environment: ["HERALD_STORE_POSTGRES_PASSWORD": "from-env", "HERALD_STORE_POSTGRES_MAX_CONNECTIONS": "5"]
            ).postgres)
        #expect(fromKeys.database == "other")
        #expect(fromKeys.password == "from-env")
        #expect(fromKeys.maxConnections == 5)
        #expect(fromKeys.tls == .require, "TLS is required for a host that is not this machine")
        #expect(try await load(environment: ["HERALD_STORE_POSTGRES_HOST": "db"]).postgres?.username == "herald")
        #expect(try await load().postgres == nil)
    }

    @Test func `flags override the environment, which overrides the file`() async throws {
        let file = """
            http:
              port: 9000
              host: 0.0.0.0
            dispatch:
              concurrency: 8
            """
        let configuration = try await load(
            file: file + "\n" + Self.oneSandbox, environment: ["HERALD_HTTP_PORT": "9100", "HERALD_DISPATCH_CONCURRENCY": "12"],
            flags: ["http.port": "9200"]
        )
        #expect(configuration.http.port == 9200)
        #expect(configuration.http.host == "0.0.0.0")
        #expect(configuration.dispatch.concurrency == 12)
    }

    @Test func `reads a list of providers, each overridable by position from the environment`() async throws {
        let file = """
            providers:
              - name: primary
                type: sandbox
                priority: 5
                latency_ms: 20
                failure_rate: 0.25
                failure_class: failover
              - name: outbox
                type: file
                directory: /tmp/outbox
                timeout_seconds: 2
            """
        let configuration = try await load(file: file, environment: ["HERALD_PROVIDERS_0_LATENCY_MS": "40"])
        #expect(configuration.providers.map(\.name) == ["primary", "outbox"])
        #expect(configuration.providers.map(\.priority) == [5, 2])
        guard case .sandbox(let behavior) = configuration.providers[0].kind else {
            Issue.record("expected a sandbox")
            return
        }
        #expect(behavior == SandboxBehavior(latencyMilliseconds: 40, failureRate: 0.25, failureClass: .failover))
        #expect(configuration.providers[1].timeout == .seconds(2))
    }

    @Test func `reads an SES provider with its secret from a file`() async throws {
        try await withTemporaryDirectory { directory in
            let secretFile = directory.appendingPathComponent("secret")
            try "s3cr3t\n".write(to: secretFile, atomically: true, encoding: .utf8)
            let file = """
                providers:
                  - name: ses
                    type: ses
                    region: eu-west-1
                    access_key_id: AKIDEXAMPLE
                    secret_access_key_file: \(secretFile.path)
                    configuration_set: transactional
                    timeout_seconds: 5
                """
            let configuration = try await load(file: file)
            guard case .ses(let ses) = configuration.providers[0].kind else {
                Issue.record("expected an ses provider")
                return
            }
            #expect(ses.region == "eu-west-1")
            #expect(ses.endpoint == "https://email.eu-west-1.amazonaws.com")
            #expect(ses.credentials == .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "s3cr3t"))
            #expect(ses.configurationSetName == "transactional")
            #expect(ses.timeout == .seconds(5))
        }
    }

    @Test func `reads an SMTP relay`() async throws {
        let file = """
            providers:
              - name: relay
                type: smtp
                host: smtp.example.com
                tls: implicit
                username: herald
                password: hunter2
                command_timeout_seconds: 5
                max_connections: 8
            """
        let configuration = try await load(file: file)
        guard case .smtp(let smtp) = configuration.providers[0].kind else {
            Issue.record("expected an smtp provider")
            return
        }
        #expect(smtp.host == "smtp.example.com")
        #expect(smtp.port == 465)
        #expect(smtp.tls == .implicit)
        #expect(smtp.username == "herald" && smtp.password == "hunter2")
        #expect(smtp.timeouts.command == .seconds(5))
        #expect(smtp.maxConnections == 8)
        #expect(!smtp.description.contains("hunter2"))
    }

    @Test func `reads a SendGrid provider with its key from a file`() async throws {
        try await withTemporaryDirectory { directory in
            let keyFile = directory.appendingPathComponent("sendgrid-key")
            try "SG.secret\n".write(to: keyFile, atomically: true, encoding: .utf8)
            let file = """
                providers:
                  - name: sendgrid
                    type: sendgrid
                    api_key_file: \(keyFile.path)
                    timeout_seconds: 5
                  - name: sendgrid-eu
                    type: sendgrid
                    api_key: SG.inline
                    endpoint: https://api.eu.sendgrid.com
                    max_message_bytes: 20000000
                """
            let configuration = try await load(file: file)
            guard case .sendgrid(let sendgrid) = configuration.providers[0].kind,
                case .sendgrid(let eu) = configuration.providers[1].kind
            else {
                Issue.record("expected two sendgrid providers")
                return
            }
            #expect(sendgrid.apiKey == "SG.secret")
            #expect(sendgrid.endpoint == "https://api.sendgrid.com")
            #expect(sendgrid.timeout == .seconds(5))
            #expect(sendgrid.maxMessageBytes == 30_000_000)
            #expect(eu.apiKey == "SG.inline")
            #expect(eu.endpoint == "https://api.eu.sendgrid.com")
            #expect(eu.maxMessageBytes == 20_000_000)
        }
    }

    @Test func `reads a Postmark provider with its stream and defaults`() async throws {
        let file = """
            providers:
              - name: postmark
                type: postmark
                api_key: pm-token
                message_stream: receipts
              - name: postmark-default
                type: postmark
                api_key: pm-token-2
            """
        let configuration = try await load(file: file)
        guard case .postmark(let postmark) = configuration.providers[0].kind,
            case .postmark(let defaults) = configuration.providers[1].kind
        else {
            Issue.record("expected two postmark providers")
            return
        }
        #expect(postmark.serverToken == "pm-token")
        #expect(postmark.messageStream == "receipts")
        #expect(defaults.messageStream == "outbound")
        #expect(defaults.endpoint == "https://api.postmarkapp.com")
        #expect(defaults.maxMessageBytes == 10_000_000)
    }

    @Test func `reads a Mailgun provider and picks the endpoint from its region`() async throws {
        let file = """
            providers:
              - name: mailgun-eu
                type: mailgun
                api_key: key-1
                domain: mg.example.org
                region: eu
              - name: mailgun-us
                type: mailgun
                api_key: key-2
                domain: mg.example.com
            """
        let configuration = try await load(file: file, environment: ["HERALD_PROVIDERS_1_API_KEY": "key-from-env"])
        guard case .mailgun(let eu) = configuration.providers[0].kind, case .mailgun(let us) = configuration.providers[1].kind else {
            Issue.record("expected two mailgun providers")
            return
        }
        #expect(eu.apiKey == "key-1")
        #expect(eu.domain == "mg.example.org")
        #expect(eu.endpoint == "https://api.eu.mailgun.net")
        #expect(us.apiKey == "key-from-env")
        #expect(us.endpoint == "https://api.mailgun.net")
        #expect(us.maxMessageBytes == 25_000_000)
    }

    @Test func `reads an Elastic Email provider with its defaults`() async throws {
        let configuration = try await load(file: "providers:\n  - {name: elastic, type: elasticemail, api_key: ee-key}\n")
        guard case .elasticEmail(let elastic) = configuration.providers[0].kind else {
            Issue.record("expected an elasticemail provider")
            return
        }
        #expect(elastic.apiKey == "ee-key")
        #expect(elastic.endpoint == "https://api.elasticemail.com")
        #expect(elastic.maxMessageBytes == 20_000_000)
    }

    @Test func `reads JSON files too`() async throws {
        let configuration = try await load(
            file: #"{"retry": {"base_seconds": 1.5, "max_attempts": 4}, "providers": [{"name": "a", "type": "sandbox"}]}"#)
        #expect(configuration.retry.base == .milliseconds(1500))
        #expect(configuration.retry.maxAttempts == 4)
    }

    @Test(arguments: [
        ("http:\n  port: 99999\n", "http.port"),
        ("retry:\n  max_attempts: many\n", "retry.max_attempts"),
        ("dispatch:\n  enabled: maybe\n", "dispatch.enabled"),
        ("log:\n  format: xml\n", "log.format"),
        ("providers:\n  - name: x\n    type: carrier-pigeon\n", "providers.0.type"),
        ("providers:\n  - name: x\n    type: file\n", "providers.0.directory"),
        ("providers:\n  - type: sandbox\n", "providers.0.name"),
        ("providers:\n  - {name: a, type: sandbox}\n  - {name: a, type: sandbox}\n", "providers.1.name"),
        ("providers:\n  - {name: a, type: sandbox, failure_class: often}\n", "providers.0.failure_class"),
        ("providers:\n  - {name: a, type: ses, access_key_id: x, secret_access_key: y}\n", "providers.0.region"),
        ("providers:\n  - {name: a, type: ses, region: us-east-1, access_key_id: x}\n", "providers.0.secret_access_key"),
        (
            "providers:\n  - {name: a, type: ses, region: us-east-1, access_key_id: x, secret_access_key_file: /nonexistent}\n",
            "providers.0.secret_access_key_file"
        ),
        ("providers:\n  - {name: a, type: smtp}\n", "providers.0.host"),
        ("providers:\n  - {name: a, type: smtp, host: h, tls: sometimes}\n", "providers.0.tls"),
        ("providers:\n  - {name: a, type: sendgrid}\n", "providers.0.api_key"),
        ("providers:\n  - {name: a, type: sendgrid, api_key_file: /nonexistent}\n", "providers.0.api_key_file"),
        ("providers:\n  - {name: a, type: sendgrid, api_key: k, max_message_bytes: 10}\n", "providers.0.max_message_bytes"),
        ("providers:\n  - {name: a, type: postmark}\n", "providers.0.api_key"),
        ("providers:\n  - {name: a, type: postmark, api_key: k, message_stream: ''}\n", "providers.0.message_stream"),
        ("providers:\n  - {name: a, type: mailgun, api_key: k}\n", "providers.0.domain"),
        ("providers:\n  - {name: a, type: mailgun, domain: d}\n", "providers.0.api_key"),
        ("providers:\n  - {name: a, type: mailgun, api_key: k, domain: d, region: asia}\n", "providers.0.region"),
        ("providers:\n  - {name: a, type: elasticemail}\n", "providers.0.api_key"),
        ("routing:\n  policy: cheapest\n", "routing.policy"),
        ("routing:\n  policy: latency\n  latency_margin: 2\n", "routing.latency_margin"),
        ("providers:\n  - {name: a, type: sandbox, daily_quota: -1}\n", "providers.0.daily_quota"),
        ("providers:\n  - {name: a, type: sandbox, rate_per_second: fast}\n", "providers.0.rate_per_second"),
        ("providers:\n  - {name: a, type: sandbox, weight: -1}\n", "providers.0.weight"),
        ("store:\n  postgres:\n    url: mysql://h/db\n", "store.postgres.url"),
        ("store:\n  postgres:\n    url: postgres://h/db?sslmode=always\n", "store.postgres.url"),
        ("store:\n  postgres:\n    host: h\n    tls: sometimes\n", "store.postgres.tls"),
        ("store:\n  postgres:\n    host: h\n    password_file: /nonexistent\n", "store.postgres.password_file"),
        ("[1, 2]", "config"),
        ("key: [unclosed", "config"),
    ])
    func `names the key of a setting it cannot use`(file: String, key: String) async throws {
        let error = try #require(try await problem(file: file))
        #expect(error.key == key)
    }

    @Test func `reads the routing policy and each provider's weight, slow threshold, send rate and quotas`() async throws {
        let file = """
            routing:
              policy: latency
              latency_margin: 0.3
              slow_ms: 800
            providers:
              - {name: main, type: sandbox, weight: 3, slow_ms: 250, rate_per_second: 14, daily_quota: 50000, monthly_quota: 1000000}
              - {name: spare, type: sandbox}
            """
        let configuration = try await load(file: file)
        #expect(configuration.routing.policy == .latency(margin: 0.3))
        #expect(configuration.routing.slowThreshold == .milliseconds(800))
        let main = configuration.providers[0]
        #expect(main.weight == 3)
        #expect(main.slowThreshold == .milliseconds(250))
        #expect(main.ratePerSecond == 14)
        #expect(main.quotas == [.day: 50000, .month: 1_000_000])
        let spare = configuration.providers[1]
        #expect(spare.weight == 1)
        #expect(spare.slowThreshold == nil, "the routing default applies")
        #expect(spare.ratePerSecond == nil)
        #expect(spare.quotas.isEmpty)
        #expect(try await load().routing.policy == .priority)
    }

    @Test func `names the key of a bad environment variable`() async throws {
        let error = try #require(try await problem(environment: ["HERALD_BREAKER_FAILURE_RATE": "2"]))
        #expect(error.key == "breaker.failure_rate")
        #expect(error.description.contains("from 0.01 to 1.0"))
    }

    @Test func `reads the console's session key and lifetime, and names a key that is not 32 bytes`() async throws {
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let console = try await load(environment: ["HERALD_CONSOLE_SESSION_KEY": key, "HERALD_CONSOLE_SESSION_HOURS": "0.5"]).console
        #expect(console.sessionKey == [UInt8](repeating: 7, count: 32))
        #expect(console.sessionLifetime == .seconds(1800))
        #expect(try await load().console.sessionKey == nil)
        for bad in [Data(repeating: 7, count: 16).base64EncodedString(), "not base64!"] {
            let error = try #require(try await problem(environment: ["HERALD_CONSOLE_SESSION_KEY": bad]))
            #expect(error.key == "console.session_key")
        }
    }

    @Test func `reads the redrive policy, and never lets it take permanent or recipient failures`() async throws {
        #expect(try await load().redrive == RedrivePolicy())
        let settings = "redrive: {interval_minutes: 0.5, max_times: 5, max_age_hours: 24, error_classes: [transient, failover]}\n"
        let redrive = try await load(file: Self.oneSandbox + settings).redrive
        #expect(redrive.interval == .seconds(30))
        #expect(redrive.maxTimes == 5)
        #expect(redrive.maxAge == .seconds(86_400))
        #expect(redrive.errorClasses == [.transient, .failover])
        #expect(try await load(environment: ["HERALD_REDRIVE_ENABLED": "false"]).redrive.enabled == false)
        for (file, key) in [
            ("redrive: {error_classes: [transient, permanent]}\n", "redrive.error_classes"),
            ("redrive: {error_classes: [transeint]}\n", "redrive.error_classes"),
            ("redrive: {max_times: 0}\n", "redrive.max_times"),
            ("redrive: {interval_minutes: 0}\n", "redrive.interval_minutes"),
        ] {
            #expect(try await problem(file: Self.oneSandbox + file)?.key == key, "\(file)")
        }
    }

    @Test func `reads retention by default and per tenant, and stops at a rule that cannot be meant`() async throws {
        #expect(try await load().retention.scopes.isEmpty, "nothing is removed unless asked")
        let settings = """
            retention:
              content_days: 30
              email_days: 365
              interval_seconds: 10
              tenants:
                - {tenant: acme, email_days: 0.5}
                - {tenant: quiet, metadata_only: true}
            """
        let retention = try await load(file: Self.oneSandbox + settings).retention
        #expect(retention.defaultRule == RetentionRule(contentAge: .seconds(30 * 86_400), emailAge: .seconds(365 * 86_400)))
        #expect(
            retention.tenantRules == ["acme": RetentionRule(emailAge: .seconds(43_200)), "quiet": RetentionRule(metadataOnly: true)])
        #expect(retention.rule(of: "quiet").metadataOnly && !retention.rule(of: "other").metadataOnly)
        #expect(retention.scopes.count == 2, "a metadata-only rule has nothing to purge")
        #expect(retention.interval == .seconds(10))
        for (file, key) in [
            ("retention: {content_days: 30, email_days: 30}\n", "retention.content_days"),
            ("retention: {email_days: 0}\n", "retention.email_days"),
            ("retention: {tenants: [{tenant: a, email_days: 1}, {tenant: a, email_days: 2}]}\n", "retention.tenants.1.tenant"),
            ("retention: {tenants: [{tenant: a, emial_days: 1}]}\n", "retention.tenants.0.emial_days"),
        ] {
            #expect(try await problem(file: Self.oneSandbox + file)?.key == key, "\(file)")
        }
    }

    @Test func `stops at a webhook lease no longer than a webhook request may take`() async throws {
        let error = try #require(
            try await problem(environment: ["HERALD_WEBHOOKS_TIMEOUT_SECONDS": "30", "HERALD_WEBHOOKS_LEASE_SECONDS": "30"]))
        #expect(error.key == "webhooks.lease_seconds")
        #expect(try await problem(environment: ["HERALD_WEBHOOKS_TIMEOUT_SECONDS": "30", "HERALD_WEBHOOKS_LEASE_SECONDS": "31"]) == nil)
    }

    @Test(arguments: [
        ("providers: [{name: g, type: sendgrid, api_key: k, events: {public_key: not-a-key}}]\n", "providers.0.events.public_key"),
        ("providers: [{name: m, type: postmark, api_key: k, events: {username: h, password: short}}]\n", "providers.0.events.password"),
        ("providers: [{name: m, type: postmark, api_key: k, events: {password: a-long-enough-password}}]\n", "providers.0.events.username"),
        ("providers: [{name: e, type: elasticemail, api_key: k, events: {secret: short}}]\n", "providers.0.events.secret"),
        ("providers: [{name: s, type: smtp, host: relay, events: {secret: a-long-enough-secret}}]\n", "providers.0.events"),
        ("providers: [{name: g, type: sendgrid, api_key: k, events: {signing_key: k}}]\n", "providers.0.events.signing_key"),
        ("providers: [{name: a, type: sandbox}]\nevents: {soft_bounce_limit: -1}\n", "events.soft_bounce_limit"),
    ])
    func `stops at event settings that cannot work, naming the key`(file: String, key: String) async throws {
        let error = try #require(try await problem(file: file))
        #expect(error.key == key)
    }

    @Test func `reads each provider's event reception, and the suppression policy`() async throws {
        let file = """
            providers:
              - {name: box, type: sandbox, events: {delay_ms: 5}}
              - {name: gun, type: mailgun, domain: d.example, api_key: k, events: {signing_key: s3cret, max_age_seconds: 60}}
              - {name: ses, type: ses, region: eu-west-1, access_key_id: a, secret_access_key: s, events: {enabled: true}}
              - {name: grid, type: sendgrid, api_key: k}
            events: {soft_bounce_limit: 0, suppress_unsubscribes: true}
            """
        let configuration = try await load(file: file)
        guard case .simulated(let delay)? = configuration.providers[0].events else { throw TestFailure("no simulated events") }
        #expect(delay == .milliseconds(5))
        guard case .mailgun(let mailgun)? = configuration.providers[1].events else { throw TestFailure("no mailgun events") }
        #expect(mailgun.maxAge == .seconds(60))
        guard case .ses(let ses)? = configuration.providers[2].events else { throw TestFailure("no SES events") }
        #expect(ses.allowedHosts == ["sns.eu-west-1.amazonaws.com"])
        #expect(configuration.providers[3].events == nil)
        #expect(configuration.eventSuppression.softBounceLimit == nil)
        #expect(configuration.eventSuppression.unsubscribes)
    }
}
