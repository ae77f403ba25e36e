import AsyncHTTPClient
import Foundation
import HeraldTesting
import NIOCore
import NIOHTTP1
import Testing

/// The console of the built binary: an operator's path through it in headless Chromium
/// (`scripts/peers/console_browser.py`, with axe-core on every page), and its sessions, CSRF
/// tokens and headers checked request by request.
@Suite("Console", .serialized, .timeLimit(.minutes(3)))
struct ConsoleTests {
    static let config = """
        providers:
          - {name: primary, type: sandbox, failure_rate: 1, failure_class: permanent}
          - {name: secondary, type: sandbox}
        webhooks: {allow_private_targets: true}
        """

    /// Answers as a browser without JavaScript gets them: no redirect followed.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Page {
        let status: Int
        let headers: HTTPHeaders
        let text: String
        var location: String? { headers.first(name: "Location") }
    }

    static func page(_ method: HTTPMethod, _ url: String, form: [String: String]? = nil, cookie: String? = nil) async throws -> Page {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: "herald_console=\(cookie)") }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let body = form.map { name, value in
                "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Page(status: Int(response.status.code), headers: response.headers, text: String(buffer: body))
    }

    /// Signs in with `key`; returns the session cookie's value and the whole `Set-Cookie`.
    static func signIn(_ herald: HeraldProcess, key: String) async throws -> (cookie: String, setCookie: String) {
        let signedIn = try await page(.POST, herald.baseURL + "/console/sign-in", form: ["key": key])
        #expect(signedIn.status == 303)
        let setCookie = try #require(signedIn.headers.first(name: "Set-Cookie"))
        let value = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last)
        return (String(value), setCookie)
    }

    /// The CSRF token a page's forms carry.
    static func csrfToken(in page: Page) throws -> String {
        let marker = #"name="csrf" value=""#
        let start = try #require(page.text.range(of: marker)).upperBound
        return String(page.text[start...].prefix { $0 != "\"" })
    }

    @Test func `an operator finds emails, retries a failed one, cancels a queued one, bulk-cancels with the count confirmed`() async throws
    {
        try await withTemporaryDirectory { directory in
            try await WebhookReceiver.with(in: directory) { receiver in
                let herald = try await HeraldProcess(directory: directory, config: Self.config)
                let endpoint = try await herald.request(
                    .POST, "/v1/webhooks", json: #"{"url": "\#(receiver.url)", "events": ["email.queued"]}"#)
                try receiver.trust(try #require(endpoint.body["secret"] as? String))
                let endpointID = try #require(endpoint.body["id"] as? String)
                let failed = try #require(try await herald.send(Fixtures.email(1)).body["id"] as? String)
                try await herald.waitUntil([failed], are: "failed")
                let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86400))
                let queued = try #require(
                    try await herald.send(
                        #"{"from":"ada@herald-test.example","to":["bob@example.com"],"subject":"Later","text":"t","send_at":"\#(later)"}"#
                    ).body["id"] as? String)
                let scripted = try #require(
                    try await herald.send(
                        #"{"from":"ada@herald-test.example","to":["bob@example.com"],"subject":"<script>window.heraldInjected = 1</script>","text":"<script>alert(1)</script>","html":"<p id=\"inside\">Hello from HTML</p><script>document.body.dataset.ran = 1; parent.heraldInjected = 2</script>","send_at":"\#(later)"}"#
                    ).body["id"] as? String)
                for index in 0..<3 {
                    _ = try await herald.send(
                        #"{"from":"ada@herald-test.example","to":["c\#(index)@example.com"],"subject":"Spring","text":"t","tags":["spring"],"send_at":"\#(later)"}"#
                    )
                }
                // The primary fails for a while (transient): an email fails over to the secondary.
                #expect(
                    try await herald.request(
                        .PUT, "/v1/admin/providers/primary/sandbox", json: #"{"failure_rate": 1, "failure_class": "transient"}"#
                    ).status == 200)
                let failover = try #require(try await herald.send(Fixtures.email(2)).body["id"] as? String)
                try await herald.waitUntil([failover], are: "sent")
                // The provider recovers, so that the retry from the console succeeds.
                #expect(try await herald.request(.PUT, "/v1/admin/providers/primary/sandbox", json: #"{"failure_rate": 0}"#).status == 200)

                let run = try Command.run(
                    "python3",
                    [
                        ScriptPeer.path("console_browser.py"), "--url", herald.baseURL, "--key", herald.apiKey, "--failed", failed,
                        "--queued", queued, "--scripted", scripted, "--bulk-tag", "spring", "--webhook", endpointID, "--failover", failover,
                    ])
                try #require(run.status == 0, "console_browser.py failed: \(run.errors)")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
                let seen = try #require(result["seen"] as? [String: Any])
                #expect(seen["unsigned_lands_on"] as? String == "/console/sign-in")
                #expect(seen["key_field_reached_by_tab"] as? Bool == true)
                #expect(seen["signed_in_lands_on"] as? String == "/console", "signed in with Tab, typing and Enter")
                #expect(seen["overview_heading"] as? String == "Overview")
                #expect(seen["overview_providers"] as? [String] == ["primary", "secondary"])
                #expect(
                    seen["activity_series"] as? [String]
                        == ["accepted", "sent", "failed", "bounced"].map { "series series-\($0)" })
                // Seven emails accepted before the browser opened; the first failed.
                let totals = try #require(seen["activity_totals"] as? [String: Int])
                #expect(totals["accepted"] == 7)
                #expect(totals["failed"] == 1)
                #expect(seen["overview_updated"] as? Bool == true, "an email accepted meanwhile shows on the open overview")
                #expect(Set(seen["listed"] as? [String] ?? []) == [failed, queued, scripted])
                #expect(seen["failed_filter"] as? [String] == [failed])
                #expect(seen["opened_by_keyboard"] as? String == "/console/emails/\(failed)", "an email opened with Tab and Enter")
                #expect(seen["tag_filter_count"] as? Int == 3)
                #expect(seen["tag_and_recipient_filter_count"] as? Int == 1)
                let timeline = try #require(seen["failover_attempts"] as? [String])
                #expect(timeline.count == 2, "\(timeline)")
                #expect(timeline.first?.contains("primary") == true && timeline.first?.contains("transient") == true, "\(timeline)")
                #expect(timeline.last?.contains("secondary") == true, "\(timeline)")
                #expect(timeline.last?.contains("after primary failed (transient)") == true, "\(timeline)")
                #expect(seen["paused_traffic_provider"] as? String == "secondary", "a paused primary's traffic goes to the secondary")
                #expect(seen["failed_status"] as? String == "failed")
                #expect((seen["failed_attempt_errors"] as? [String] ?? []).contains { $0.contains("permanent") })
                #expect(seen["retried_status"] as? String == "sent")
                #expect(seen["cancelled_status"] as? String == "cancelled")
                #expect(seen["script_ran"] as? Bool == false, "a subject holding <script> renders inert")
                #expect(seen["subject_shown"] as? String == "<script>window.heraldInjected = 1</script>")
                #expect(seen["text_shown"] as? String == "<script>alert(1)</script>", "the text body shows as text")
                #expect(seen["html_shown"] as? String == "Hello from HTML", "the HTML body shows in its frame")
                #expect(seen["html_script_ran"] as? Bool == false, "a script in the HTML body does not run")
                #expect(seen["bulk_matching"] as? String == "0 to retry, 3 to cancel.")
                #expect(seen["bulk_question"] as? String == "Cancel 3 emails?")
                #expect(seen["bulk_notice"] as? String == "Cancelled 3 emails.")
                #expect(seen["bulk_matching_after"] as? String == "0 to retry, 0 to cancel.")
                #expect(seen["suppression_notice"] as? String == "Added gone@example.com.")
                #expect(seen["suppressed"] as? [String] == ["gone@example.com"])
                #expect(seen["suppressed_after_removal"] as? [String] == [])
                #expect(seen["made_key_works"] as? Bool == true)
                #expect((seen["revoked_notice"] as? String)?.hasPrefix("Revoked key") == true)
                #expect(seen["revoked_key_works"] as? Bool == false)
                #expect(seen["webhook_endpoints"] as? [String] == [endpointID])
                #expect(seen["webhook_delivered"] as? Bool == true)
                let replayed = try #require(seen["webhook_replayed_message"] as? String)
                #expect(seen["webhook_replay_notice"] as? String == "Message \(replayed) will be sent again.")
                #expect(seen["webhook_replay_logged"] as? Bool == true, "the delivery log shows the message's second try")
                #expect(seen["webhook_state"] as? String == "disabled")
                try await waitUntil(timeout: .seconds(10)) { receiver.received().filter { $0.id == replayed && $0.verified }.count >= 2 }
                #expect((seen["latency_chart"] as? String)?.hasPrefix("p95 from ") == true, "\(seen["latency_chart"] ?? "none")")
                #expect(seen["latency_lines"] as? Int == 2)
                #expect((seen["sandbox_refusal"] as? String)?.contains("failure_rate must be between 0 and 1") == true)
                #expect(seen["sandbox_notice"] as? String == "primary now behaves as set.")
                let sandbox = try #require(seen["sandbox_settings"] as? [String: Any])
                #expect(sandbox["failure_rate"] as? Double == 0.25)
                #expect(sandbox["latency_ms"] as? Int == 7)
                #expect((seen["overview_changes"] as? [String])?.prefix(2) == ["healthy", "paused"], "newest first")
                #expect(seen["paused_state"] as? String == "paused")
                #expect(seen["resumed_state"] as? String != "paused")
                for (page, width) in seen["phone_scroll_widths"] as? [String: Int] ?? [:] {
                    #expect(width <= 390, "\(page) fits a phone-width screen")
                }
                #expect((seen["phone_scroll_widths"] as? [String: Int])?.count == 5)
                #expect(seen["signed_out_lands_on"] as? String == "/console/sign-in")
                #expect(seen["after_sign_out_lands_on"] as? String == "/console/sign-in")
                let violations = try #require(result["violations"] as? [String: [String]])
                #expect(
                    Set(violations.keys) == [
                        "sign-in", "overview", "emails", "email", "bulk", "suppressions", "keys", "webhooks", "webhook", "providers",
                    ])
                for (page, found) in violations { #expect(found.isEmpty, "\(page): \(found)") }
                herald.signal(SIGTERM)
                #expect(try await herald.waitForExit() == 0)
            }
        }
    }

    @Test func `sessions are HttpOnly, SameSite=Strict cookies; forms need the session's CSRF token; every page sends the CSP`()
        async throws
    {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config)
            let base = herald.baseURL + "/console"
            #expect(try await Self.page(.GET, base).location == "/console/sign-in")
            let refused = try await Self.page(.POST, base + "/sign-in", form: ["key": "hk_nope_nope"])
            #expect(refused.status == 401)
            // Malformed forms are no key at all, never a crash.
            for body in ["key=%", "key=%zz&&=", "key=%ff%fe", "%%%=&key"] {
                var request = HTTPClientRequest(url: base + "/sign-in")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: body))
                #expect(try await Self.client.execute(request, timeout: .seconds(5)).status == .unauthorized, "\(body)")
            }

            let (cookie, setCookie) = try await Self.signIn(herald, key: herald.apiKey)
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
                #expect(setCookie.contains(attribute), "\(setCookie)")
            }
            #expect(!setCookie.contains("Secure"), "Secure only under TLS")
            let id = try #require(try await herald.send(Fixtures.email(1)).body["id"] as? String)
            try await herald.waitUntil([id], are: "failed")
            for path in ["", "/emails", "/emails/\(id)", "/bulk", "/suppressions", "/keys", "/webhooks", "/providers", "/sign-in"] {
                let shown = try await Self.page(.GET, base + path, cookie: cookie)
                #expect(shown.status == 200, "\(path)")
                #expect(shown.headers.first(name: "Content-Security-Policy")?.contains("default-src 'self'") == true, "\(path)")
                #expect(shown.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true, "\(path)")
                #expect(!shown.text.contains("<script>"), "no inline script on \(path)")
            }
            // Found by recipient, in any letter case; another recipient's list does not have it.
            #expect(try await Self.page(.GET, base + "/emails?recipient=BOB1%40herald-test.example", cookie: cookie).text.contains(id))
            #expect(!(try await Self.page(.GET, base + "/emails?recipient=bob2%40herald-test.example", cookie: cookie).text.contains(id)))
            // An HTML body comes with a policy that lets nothing in it run; the MIME is an operator's download.
            let withHTML = try #require(
                try await herald.send(#"{"from":"a@herald-test.example","to":["b@example.com"],"subject":"Hi","html":"<p>Hi</p>"}"#)
                    .body["id"] as? String)
            let body = try await Self.page(.GET, base + "/emails/\(withHTML)/body", cookie: cookie)
            #expect(body.status == 200)
            #expect(body.text == "<p>Hi</p>")
            #expect(body.headers.first(name: "Content-Security-Policy")?.hasPrefix("sandbox; default-src 'none'") == true)
            let raw = try await Self.page(.GET, base + "/emails/\(withHTML)/raw", cookie: cookie)
            #expect(raw.headers.first(name: "Content-Type") == "message/rfc822")
            #expect(raw.headers.first(name: "Content-Disposition") == "attachment; filename=\"\(withHTML).eml\"")
            #expect(raw.text.contains("Subject: Hi\r\n"))
            let emailPage = try await Self.page(.GET, base + "/emails/\(id)", cookie: cookie)
            let token = try Self.csrfToken(in: emailPage)
            #expect(try await Self.page(.POST, base + "/emails/\(id)/retry", form: [:], cookie: cookie).status == 403)
            #expect(try await Self.page(.POST, base + "/emails/\(id)/retry", form: ["csrf": "stale"], cookie: cookie).status == 403)
            // Another session's token is stale for this one.
            let (otherCookie, _) = try await Self.signIn(herald, key: herald.apiKey)
            let otherToken = try Self.csrfToken(in: try await Self.page(.GET, base, cookie: otherCookie))
            #expect(try await Self.page(.POST, base + "/emails/\(id)/retry", form: ["csrf": otherToken], cookie: cookie).status == 403)
            #expect(try await Self.page(.POST, base + "/bulk/retry", form: ["status": "failed"], cookie: cookie).status == 403)
            #expect(try await herald.email(id)["status"] as? String == "failed", "a refused bulk form moves nothing")
            for (path, form) in [
                ("/suppressions", ["address": "x@example.com"]), ("/suppressions/remove", ["address": "x@example.com"]),
                ("/keys", ["tenant": "t", "scope": "operator"]), ("/keys/\(herald.apiKey.split(separator: "_")[1])/revoke", [:]),
                ("/webhooks/any/disable", [:]), ("/webhooks/any/replay", ["message": "m"]),
            ] {
                #expect(try await Self.page(.POST, base + path, form: form, cookie: cookie).status == 403, "\(path) without a token")
            }
            #expect(try await herald.request(.GET, "/v1/suppressions/x@example.com").status == 404, "a refused form adds nothing")
            #expect(try await herald.request(.GET, "/v1/emails").status == 200, "a refused form revokes nothing")
            let retried = try await Self.page(.POST, base + "/emails/\(id)/retry", form: ["csrf": token], cookie: cookie)
            #expect(retried.status == 303)
            #expect(retried.location == "/console/emails/\(id)")
            // A cookie Herald did not sign is no session.
            #expect(try await Self.page(.GET, base, cookie: cookie.dropLast(2) + "xx").location == "/console/sign-in")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    @Test func `a revoked key's session ends at once, and a tenant sees only its own emails`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config)
            let base = herald.baseURL + "/console"
            let configFile = directory.appendingPathComponent("herald.yaml").path
            let created = try Command.run(
                HeraldProcess.binary.path, ["keys", "create", "--tenant", "globex", "--scope", "read", "--config", configFile],
                directory: directory)
            let otherKey = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let otherID = String(try #require(otherKey.split(separator: "_").dropFirst().first, "\(created.errors)"))
            let (cookie, _) = try await Self.signIn(herald, key: otherKey)
            let mine = try #require(try await herald.send(Fixtures.email(1)).body["id"] as? String)
            let foreign = try await Self.page(.GET, base + "/emails/\(mine)", cookie: cookie)
            #expect(foreign.status == 404, "another tenant's email is not found")
            #expect(!(try await Self.page(.GET, base + "/emails", cookie: cookie)).text.contains(mine))
            let overview = try await Self.page(.GET, base, cookie: cookie)
            #expect(overview.status == 200)
            #expect(!overview.text.contains("oldest due"), "the installation's queue is an operator's to see")
            #expect(try await Self.page(.GET, base + "/bulk", cookie: cookie).status == 403, "bulk operations need an admin key")
            #expect(try await Self.page(.GET, base + "/keys", cookie: cookie).status == 403, "keys are an operator's")
            let suppressions = try await Self.page(.GET, base + "/suppressions", cookie: cookie)
            #expect(suppressions.status == 200)
            #expect(!suppressions.text.contains("action=\"/console/suppressions\""), "a read key gets no form to change the list")
            let revoked = try Command.run(
                HeraldProcess.binary.path, ["keys", "revoke", "--config", configFile, "--", otherID], directory: directory)
            #expect(revoked.status == 0, "\(revoked.errors)")
            #expect(try await Self.page(.GET, base, cookie: cookie).location == "/console/sign-in")
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }

    /// Nodes that share `console.session_key` share their sessions: a cookie signed by one
    /// process holds on another with the key, and not on one without it (each such process
    /// signs with a key of its own).
    @Test func `a session holds on every process that shares console.session_key, and only there`() async throws {
        try await withTemporaryDirectory { directory in
            var generator = SystemRandomNumberGenerator()
            let key = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
            let shared = Self.config + "\nconsole: {session_key: \"\(key)\"}\n"
            let first = try await HeraldProcess(directory: directory, config: shared)
            let (cookie, _) = try await Self.signIn(first, key: first.apiKey)
            first.signal(SIGTERM)
            #expect(try await first.waitForExit() == 0)
            let second = try await HeraldProcess(directory: directory, config: shared)
            #expect(try await Self.page(.GET, second.baseURL + "/console", cookie: cookie).status == 200)
            second.signal(SIGTERM)
            #expect(try await second.waitForExit() == 0)
            let unshared = try await HeraldProcess(directory: directory, config: Self.config)
            #expect(try await Self.page(.GET, unshared.baseURL + "/console", cookie: cookie).location == "/console/sign-in")
            unshared.signal(SIGTERM)
            #expect(try await unshared.waitForExit() == 0)
        }
    }

    /// A retry from the console wakes the dispatcher, as the API's does: with a poll interval
    /// of a minute, the retried email is sent long before the dispatcher would look again.
    @Test func `a retry from the console is sent at once, not at the next poll`() async throws {
        try await withTemporaryDirectory { directory in
            let herald = try await HeraldProcess(directory: directory, config: Self.config + "\ndispatch: {poll_interval_ms: 60000}\n")
            let id = try #require(try await herald.send(Fixtures.email(1)).body["id"] as? String)
            try await herald.waitUntil([id], are: "failed", timeout: .seconds(20))
            #expect(try await herald.request(.PUT, "/v1/admin/providers/primary/sandbox", json: #"{"failure_rate": 0}"#).status == 200)
            let (cookie, _) = try await Self.signIn(herald, key: herald.apiKey)
            let base = herald.baseURL + "/console"
            let token = try Self.csrfToken(in: try await Self.page(.GET, base + "/emails/\(id)", cookie: cookie))
            #expect(try await Self.page(.POST, base + "/emails/\(id)/retry", form: ["csrf": token], cookie: cookie).status == 303)
            try await herald.waitUntil([id], are: "sent", timeout: .seconds(20))
            herald.signal(SIGTERM)
            #expect(try await herald.waitForExit() == 0)
        }
    }
}
