import Crypto
import Foundation
import HTTPTypes
import HeraldAPI
import HeraldCore
import Hummingbird
import Mustache
import NIOCore

/// The operator console at `/console`: HTML rendered on the server from the data the public API
/// gives, readable without JavaScript. Signing in with an API key starts a session
/// (``ConsoleSessions``); the key's scope and tenant then decide, as in the API, what the
/// session reads and does.
public struct ConsoleController<Context: AuthenticatedRequestContext>: Sendable {
    /// What the console needs of the rest of Herald.
    public struct Dependencies: Sendable {
        /// What the pages read and change: emails, keys, suppressions and webhook endpoints.
        public typealias Store = EmailStore & APIKeyStore & SuppressionStore & WebhookStore

        public var store: any Store
        public var providers: any ProviderAdministration
        public var clock: any WallClock
        /// Cookies are marked `Secure` when the listener speaks TLS.
        public var servesTLS: Bool
        /// The email as the providers get it, in MIME, for operators to download.
        public var renderMIME: @Sendable (_ message: EmailMessage, _ id: EmailID, _ date: Date) -> [UInt8]
        /// Called when emails go back into the queue (a retry), so that the dispatcher looks at once.
        public var onRequeued: @Sendable () -> Void
        /// Signs session cookies and CSRF tokens; nodes that share it share their sessions. Nil
        /// for a key of this process alone.
        public var sessionKey: [UInt8]?
        public var sessionLifetime: Duration

        public init(
            store: any Store, providers: any ProviderAdministration, clock: any WallClock, servesTLS: Bool,
            renderMIME: @escaping @Sendable (_ message: EmailMessage, _ id: EmailID, _ date: Date) -> [UInt8],
            onRequeued: @escaping @Sendable () -> Void, sessionKey: [UInt8]? = nil,
            sessionLifetime: Duration = .seconds(8 * 3600)
        ) {
            self.renderMIME = renderMIME
            self.onRequeued = onRequeued
            self.sessionKey = sessionKey
            self.sessionLifetime = sessionLifetime
            self.store = store
            self.providers = providers
            self.clock = clock
            self.servesTLS = servesTLS
        }
    }

    let dependencies: Dependencies
    let sessions: ConsoleSessions
    let pages: MustacheLibrary

    public init(dependencies: Dependencies) throws {
        self.dependencies = dependencies
        self.sessions = ConsoleSessions(
            lifetime: dependencies.sessionLifetime,
            signingKey: dependencies.sessionKey.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256))
        self.pages = try ConsolePages.library()
    }

    public func addRoutes(to router: Router<Context>) {
        let console = router.group("console").add(middleware: ConsoleHeaders<Context>())
        console.get(use: overview)
        console.get("console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: ConsolePages.styleSheet)))
        }
        console.get("console.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: ConsolePages.script)))
        }
        console.get("sign-in", use: signInPage)
        console.post("sign-in", use: signIn)
        console.post("sign-out", use: signOut)
        console.get("emails", use: emails)
        console.get("emails/:id", use: email)
        console.get("emails/:id/body", use: htmlBody)
        console.get("emails/:id/raw", use: rawMessage)
        console.post("emails/:id/retry") { request, context in try await act(.retry, request, context) }
        console.post("emails/:id/cancel") { request, context in try await act(.cancel, request, context) }
        console.get("bulk", use: bulk)
        console.post("bulk/retry") { request, context in try await actInBulk(.retry, request, context) }
        console.post("bulk/cancel") { request, context in try await actInBulk(.cancel, request, context) }
        addSuppressionRoutes(to: console)
        addKeyRoutes(to: console)
        addWebhookRoutes(to: console)
        addProviderRoutes(to: console)
    }

    // MARK: Sessions

    /// A signed-in request: its session and the key, looked up again so that a revoked key is
    /// refused at once.
    struct SignedIn {
        let session: ConsoleSessions.Session
        let key: APIKey
    }

    private func signedIn(_ request: Request) async throws -> SignedIn? {
        guard let cookie = request.cookies[ConsoleSessions.cookieName]?.value,
            let session = sessions.session(fromCookie: cookie, now: dependencies.clock.now),
            let found = try await dependencies.store.key(id: session.keyID), found.key.revokedAt == nil
        else { return nil }
        return SignedIn(session: session, key: found.key)
    }

    /// Runs `page` for a signed-in request with at least `scope`; sends anyone else to sign in.
    func withSession(
        _ request: Request, scope: APIKey.Scope, _ page: (SignedIn) async throws -> Response
    ) async throws -> Response {
        guard let signedIn = try await signedIn(request) else { return Self.redirect(to: "/console/sign-in") }
        guard signedIn.key.scope.allows(scope) else {
            return try render(
                "problem", ["heading": "Not allowed", "message": "This needs a key with the \(scope.rawValue) scope."], signedIn,
                status: .forbidden)
        }
        return try await page(signedIn)
    }

    @Sendable func signInPage(request: Request, context: Context) async throws -> Response {
        try render("sign-in", [:], nil)
    }

    @Sendable func signIn(request: Request, context: Context) async throws -> Response {
        let form = try await ConsoleForm(request)
        guard let secret = form["key"], let key = try await APIKeys.authenticate(secret, in: dependencies.store) else {
            return try render("sign-in", ["error": "That key is unknown or revoked."], nil, status: .unauthorized)
        }
        let session = sessions.start(keyID: key.id, now: dependencies.clock.now)
        var response = Self.redirect(to: "/console")
        response.setCookie(
            Cookie(
                name: ConsoleSessions.cookieName, value: session.cookie, maxAge: Int(sessions.lifetime.components.seconds),
                path: "/console", secure: dependencies.servesTLS, httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func signOut(request: Request, context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .read) { signedIn, _ in
            var response = Self.redirect(to: "/console/sign-in")
            response.setCookie(
                Cookie(
                    name: ConsoleSessions.cookieName, value: "", maxAge: 0, path: "/console", secure: dependencies.servesTLS,
                    httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// Runs `action` for a posted form of a signed-in request with at least `scope`, once the
    /// form has shown the session's CSRF token; refuses it otherwise.
    func withPostedForm(
        _ request: Request, scope: APIKey.Scope, _ action: (SignedIn, ConsoleForm) async throws -> Response
    ) async throws -> Response {
        try await withSession(request, scope: scope) { signedIn in
            let form = try await ConsoleForm(request)
            guard sessions.isValidCSRFToken(form["csrf"], for: signedIn.session) else { return try refusedForm(signedIn) }
            return try await action(signedIn, form)
        }
    }

    /// The answer to a post without the session's CSRF token.
    func refusedForm(_ signedIn: SignedIn) throws -> Response {
        try render(
            "problem", ["heading": "Not done", "message": "The form is stale or not this session's: reload the page and try again."],
            signedIn, status: .forbidden)
    }

    // MARK: Pages

    @Sendable func overview(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .read) { signedIn in
            var page: [String: Any] = [:]
            // The queue is the whole installation's: an operator's to see, not a tenant's.
            if signedIn.key.scope.allows(.operator) {
                let now = dependencies.clock.now
                let queue = try await dependencies.store.queueStatistics(now: now)
                page["queue"] = true
                // The statuses still in the queue: final ones are not counted (that would read
                // the whole history), so a zero for them would be wrong.
                page["statuses"] = EmailStatus.allCases.compactMap { status in
                    queue.emailsByStatus[status].map { ["name": status.rawValue, "count": $0] }
                }
                page["oldestDue"] = queue.oldestDueAt.map { "\(Int(max(0, now.timeIntervalSince($0)))) s" } ?? "none"
                let since = now.addingTimeInterval(-Double(ActivityChart.minutes) * 60)
                page["activity"] = ActivityChart(try await dependencies.store.activity(since: since), now: now).page
            }
            let statuses = dependencies.providers.statuses()
            let providers: [[String: Any]] = statuses.map { status in
                [
                    "name": status.name, "state": status.state.rawValue, "breaker": status.breakerState,
                    "p95": status.latency.p95.map(Self.milliseconds) ?? "—",
                    "success": status.recentSuccessRate.map { "\(Int(($0 * 100).rounded())) %" } ?? "—", "reason": status.reason ?? "",
                ]
            }
            page["providers"] = providers
            page["changes"] = statuses.flatMap { status in status.changes.map { (status.name, $0) } }
                .sorted { $0.1.at > $1.1.at }.prefix(10)
                .map { name, change -> [String: Any] in
                    ["at": Self.time(change.at), "provider": name, "state": change.state.rawValue, "reason": change.reason ?? ""]
                }
            return try render("overview", page, signedIn)
        }
    }

    @Sendable func emails(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .read) { signedIn in
            let query = request.uri.queryParameters
            if let id = query["id"].map(String.init)?.trimmingCharacters(in: .whitespaces), !id.isEmpty {
                return Self.redirect(to: "/console/emails/\(EmailID(id)?.rawValue ?? "unknown")")
            }
            let fields = ListFields(query)
            let limit = 50
            var page: [String: Any] = [
                "statusOptions": [["value": "", "label": "any", "selected": fields.status.isEmpty]]
                    + EmailStatus.allCases.map { ["value": $0.rawValue, "label": $0.rawValue, "selected": $0.rawValue == fields.status] },
                "recipient": fields.recipient, "tag": fields.tag, "provider": fields.provider, "since": fields.since,
                "until": fields.until,
            ]
            guard let filter = fields.filter(tenant: signedIn.key.tenant) else {
                page["error"] = "Times are UTC, written as 2026-12-07T09:30."
                return try render("emails", page, signedIn, status: .unprocessableContent)
            }
            let cursor = query["cursor"].flatMap { EmailID(String($0)) }
            let emails = try await dependencies.store.emails(matching: filter, limit: limit, after: cursor)
            page["emails"] = emails.map { email -> [String: Any] in
                [
                    "id": email.id.rawValue, "status": email.status.rawValue, "provider": email.provider ?? "",
                    "created": Self.time(email.createdAt), "updated": Self.time(email.updatedAt),
                ]
            }
            if emails.count == limit, let last = emails.last {
                var next = URLComponents(string: "/console/emails")!
                next.queryItems = fields.queryItems + [URLQueryItem(name: "cursor", value: last.id.rawValue)]
                page["next"] = next.string ?? "/console/emails"
            }
            return try render("emails", page, signedIn)
        }
    }

    @Sendable func email(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .read) { signedIn in
            guard let id = context.parameters.get("id").flatMap({ EmailID($0) }),
                let email = try await dependencies.store.email(id, tenant: signedIn.key.tenant)
            else {
                return try render("problem", ["heading": "Not found", "message": "There is no such email."], signedIn, status: .notFound)
            }
            let message = email.message
            var page: [String: Any] = [
                "id": id.rawValue, "status": email.status.rawValue, "from": message.from.description,
                "to": (message.to + message.cc).map(\.description).joined(separator: ", "), "subject": message.subject,
                "canRetry": email.status == .failed && signedIn.key.scope.allows(.send),
                "canCancel": [.queued, .deferred].contains(email.status) && signedIn.key.scope.allows(.send),
                "hasRecipients": !email.recipients.isEmpty,
                "recipients": email.recipients.map { ["address": $0.address, "state": $0.phase.rawValue, "at": Self.time($0.updatedAt)] },
                "attempts": email.attempts.map { attempt -> [String: Any] in
                    [
                        "number": attempt.number, "provider": attempt.provider, "started": Self.time(attempt.startedAt),
                        "outcome": attempt.outcome.rawValue,
                        "error": [attempt.errorClass?.rawValue, attempt.errorCode].compactMap { $0 }.joined(separator: " "),
                        "latency": "\(attempt.latencyMilliseconds) ms", "routing": attempt.routing ?? "",
                    ]
                },
                "events": email.events.map { event -> [String: Any] in
                    [
                        "at": Self.time(event.at), "kind": event.kind.rawValue, "provider": event.provider ?? "",
                        "detail": event.detail ?? "",
                    ]
                },
            ]
            if !message.tags.isEmpty { page["tags"] = message.tags.joined(separator: ", ") }
            if let text = message.text { page["text"] = text }
            if message.html != nil { page["hasHTML"] = true }
            if signedIn.key.scope.allows(.operator) { page["canDownload"] = true }
            if let failure = email.failureReason { page["failure"] = failure }
            if let provider = email.provider {
                page["provider"] = provider
                page["providerMessageID"] = email.providerMessageID ?? ""
            }
            return try render("email", page, signedIn)
        }
    }

    /// Failed, suppressed, queued and deferred emails by filter: how many a bulk retry or
    /// cancel would move, shown before the button that moves them.
    @Sendable func bulk(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .admin) { signedIn in
            let query = request.uri.queryParameters
            let fields = BulkFields(
                status: query["status"].map(String.init) ?? EmailStatus.failed.rawValue, tag: query["tag"].map(String.init) ?? "",
                provider: query["provider"].map(String.init) ?? "")
            return try await renderBulk(fields, notice: nil, signedIn)
        }
    }

    /// Retries or cancels every email of the session's tenant that matches the posted filter,
    /// as `POST /v1/emails/retry` and `/cancel` do, then shows what it moved.
    private func actInBulk(_ action: Action, _ request: Request, _ context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .admin) { signedIn, form in
            let fields = BulkFields(status: form["status"] ?? "", tag: form["tag"] ?? "", provider: form["provider"] ?? "")
            guard let filter = fields.filter(tenant: signedIn.key.tenant) else {
                return try await renderBulk(fields, notice: nil, signedIn)
            }
            let now = dependencies.clock.now
            let moved =
                switch action {
                case .retry: try await dependencies.store.retry(matching: filter, now: now)
                case .cancel: try await dependencies.store.cancel(matching: filter, now: now)
                }
            if action == .retry, moved > 0 { dependencies.onRequeued() }
            var notice = "\(action == .retry ? "Retried" : "Cancelled") \(moved) \(moved == 1 ? "email" : "emails")."
            if let counted = form["counted"].flatMap(Int.init), counted != moved {
                notice += " \(counted) were counted: the queue changed in between."
            }
            return try await renderBulk(fields, notice: notice, signedIn)
        }
    }

    private func renderBulk(_ fields: BulkFields, notice: String?, _ signedIn: SignedIn) async throws -> Response {
        var page: [String: Any] = [
            "statusOptions": BulkFields.statuses.map { ["value": $0.rawValue, "selected": $0.rawValue == fields.status] },
            "tag": fields.tag, "provider": fields.provider, "status": fields.status,
        ]
        if let notice { page["notice"] = notice }
        guard let filter = fields.filter(tenant: signedIn.key.tenant) else {
            page["error"] = "Choose one of the statuses offered."
            return try render("bulk", page, signedIn, status: .unprocessableContent)
        }
        let retryable = try await dependencies.store.count(matching: filter, in: EmailStatus.retryable)
        let cancellable = try await dependencies.store.count(matching: filter, in: EmailStatus.cancellable)
        page["counted"] = true
        page["retryable"] = retryable
        page["cancellable"] = cancellable
        if retryable > 0 { page["canRetry"] = true }
        if cancellable > 0 { page["canCancel"] = true }
        return try render("bulk", page, signedIn)
    }

    /// The email's HTML body, for the sandboxed frame on its page: its own CSP lets nothing in
    /// it run, load or leave (`sandbox`, no sources but inline styles and `data:` images), and
    /// lets only the console frame it.
    @Sendable func htmlBody(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .read) { signedIn in
            guard let id = context.parameters.get("id").flatMap({ EmailID($0) }),
                let html = try await dependencies.store.email(id, tenant: signedIn.key.tenant)?.message.html
            else { return Response(status: .notFound) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy: "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
                ],
                body: .init(byteBuffer: ByteBuffer(string: html)))
        }
    }

    /// The email in MIME, as a provider gets it, as a download: operators only, since it holds
    /// the Bcc recipients and every attachment.
    @Sendable func rawMessage(request: Request, context: Context) async throws -> Response {
        try await withSession(request, scope: .operator) { signedIn in
            guard let id = context.parameters.get("id").flatMap({ EmailID($0) }),
                let email = try await dependencies.store.email(id, tenant: signedIn.key.tenant)
            else { return Response(status: .notFound) }
            return Response(
                status: .ok,
                headers: [.contentType: "message/rfc822", .contentDisposition: "attachment; filename=\"\(id.rawValue).eml\""],
                body: .init(byteBuffer: ByteBuffer(bytes: dependencies.renderMIME(email.message, id, email.createdAt))))
        }
    }

    enum Action: String {
        case retry, cancel
    }

    /// Retries or cancels an email, as `POST /v1/emails/{id}/retry` and `/cancel` do, then shows it.
    private func act(_ action: Action, _ request: Request, _ context: Context) async throws -> Response {
        try await withPostedForm(request, scope: .send) { signedIn, _ in
            guard let id = context.parameters.get("id").flatMap({ EmailID($0) }) else {
                return try render("problem", ["heading": "Not found", "message": "There is no such email."], signedIn, status: .notFound)
            }
            do {
                switch action {
                case .retry:
                    try await dependencies.store.retry(id, tenant: signedIn.key.tenant, now: dependencies.clock.now)
                    dependencies.onRequeued()
                case .cancel: try await dependencies.store.cancel(id, tenant: signedIn.key.tenant, now: dependencies.clock.now)
                }
            } catch let error as StoreError where error.code == .notFound || error.code == .invalidTransition {
                let message = error.code == .notFound ? "There is no such email." : "Its status does not allow a \(action.rawValue) now."
                return try render("problem", ["heading": "Not done", "message": message], signedIn, status: .conflict)
            }
            return Self.redirect(to: "/console/emails/\(id.rawValue)")
        }
    }

    // MARK: Rendering

    func render(
        _ template: String, _ values: [String: Any], _ signedIn: SignedIn?, status: HTTPResponse.Status = .ok
    ) throws -> Response {
        var values = values
        if let signedIn {
            values["signedIn"] = true
            values["csrf"] = sessions.csrfToken(for: signedIn.session)
            values["tenant"] = signedIn.key.tenant
            values["scope"] = signedIn.key.scope.rawValue
            values["canBulk"] = signedIn.key.scope.allows(.admin)
            values["canManageKeys"] = signedIn.key.scope.allows(.operator)
        }
        guard let html = pages.render(values, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "the console has no page \(template)")
        }
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303: after a post, the browser gets the page with a GET.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func milliseconds(_ duration: Duration) -> String {
        "\(Int((duration.timeInterval * 1000).rounded())) ms"
    }
}

/// What every console answer says to the browser: only this origin's resources and no inline
/// script (CSP), never in a frame, no caching of pages that show emails, no MIME sniffing.
struct ConsoleHeaders<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
            + "base-uri 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        // An email's HTML body brings a stricter policy of its own.
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// An `application/x-www-form-urlencoded` body, as the console's forms post it. Read by hand,
/// byte by byte, so that no body, however malformed, can do more than leave a field out.
struct ConsoleForm {
    private let fields: [String: String]

    init(_ request: Request) async throws {
        let body = String(buffer: try await request.body.collect(upTo: 16 * 1024))
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), fields[name] == nil else { continue }
            fields[name] = parts.count > 1 ? Self.decode(parts[1]) : ""
        }
        self.fields = fields
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// `+` is a space, `%XX` a byte; nil for a broken escape or bytes that are not UTF-8.
    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

/// The email list's filter as its form holds it: each field's text as given.
struct ListFields {
    var status: String
    var recipient: String
    var tag: String
    var provider: String
    /// Creation times, UTC, as a `datetime-local` field writes them (`2026-12-07T09:30`).
    var since: String
    var until: String

    init(_ query: Parameters) {
        func field(_ name: String) -> String { query[Substring(name)].map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        (status, recipient, tag, provider) = (field("status"), field("recipient"), field("tag"), field("provider"))
        (since, until) = (field("since"), field("until"))
    }

    /// The filter of `tenant`'s emails; nil when a time cannot be read. A status the list does
    /// not know shows every status, as its "any" option does.
    func filter(tenant: String) -> EmailFilter? {
        var filter = EmailFilter(tenant: tenant, status: EmailStatus(rawValue: status))
        filter.recipient = recipient.isEmpty ? nil : recipient
        filter.tag = tag.isEmpty ? nil : tag
        filter.provider = provider.isEmpty ? nil : provider
        for (text, path) in [(since, \EmailFilter.createdAfter), (until, \.createdBefore)] where !text.isEmpty {
            guard let time = Self.utcTime(text) else { return nil }
            filter[keyPath: path] = time
        }
        return filter
    }

    /// The fields given, for the next page's link.
    var queryItems: [URLQueryItem] {
        [("status", status), ("recipient", recipient), ("tag", tag), ("provider", provider), ("since", since), ("until", until)]
            .filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
    }

    /// A `datetime-local` value (minutes, or seconds too) read as UTC.
    static func utcTime(_ text: String) -> Date? {
        let withSeconds = text.utf8.count == 16 ? text + ":00" : text
        guard withSeconds.utf8.count == 19 else { return nil }
        return try? Date(withSeconds + "Z", strategy: .iso8601)
    }
}

/// The bulk page's filter as its form holds it.
struct BulkFields {
    var status: String
    var tag: String
    var provider: String

    /// The statuses a bulk operation starts from, in the order the page offers them.
    static let statuses: [EmailStatus] = [.failed, .suppressed, .queued, .deferred]

    /// The filter of `tenant`'s emails; nil for a status the page does not offer.
    func filter(tenant: String) -> EmailFilter? {
        guard let status = EmailStatus(rawValue: status), Self.statuses.contains(status) else { return nil }
        return EmailFilter(tenant: tenant, status: status, tag: Self.criterion(tag), provider: Self.criterion(provider))
    }

    /// A text field as a criterion: nil when left empty.
    private static func criterion(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}
