import Crypto
import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird
import Logging
import Metrics

/// `/v1/emails`: accept emails, show them with their history, list, retry and cancel them.
///
/// Each email belongs to the tenant of the key that sent it; another tenant's keys cannot see
/// it (404). Sending needs the `send` scope, reading `read`, bulk operations `admin`.
public struct EmailsController<Context: AuthenticatedRequestContext>: Sendable {
    let store: any EmailStore & IdempotencyStore
    let providers: any ProviderAdministration
    let clock: any WallClock
    let state: ServiceState
    let maxBodyBytes: Int
    let maxBatchEmails: Int
    let accepted: Counter
    let onAccepted: @Sendable () -> Void
    /// Which tenants' emails keep no content past delivery.
    let retention: RetentionPolicy

    public init(
        store: any EmailStore & IdempotencyStore, providers: any ProviderAdministration, clock: any WallClock, state: ServiceState,
        maxBodyBytes: Int, maxBatchEmails: Int = 100, retention: RetentionPolicy = RetentionPolicy(), metricsFactory: any MetricsFactory,
        onAccepted: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.providers = providers
        self.clock = clock
        self.state = state
        self.maxBodyBytes = maxBodyBytes
        self.maxBatchEmails = maxBatchEmails
        self.accepted = Counter(label: "herald_emails_accepted_total", factory: metricsFactory)
        self.onAccepted = onAccepted
        self.retention = retention
    }

    /// An email accepted now from `key`'s request.
    private func newEmail(_ parsed: SendEmailRequest.Parsed, key: APIKey, now: Date) -> NewEmail {
        NewEmail(
            id: EmailID(date: now), message: parsed.message, acceptedAt: now, sendAt: parsed.sendAt, tenant: key.tenant,
            metadataOnly: retention.rule(of: key.tenant).metadataOnly)
    }

    /// The emails' routes, on the authenticated `/v1` group.
    public func addRoutes(to api: some RouterMethods<Context>) {
        let emails = api.group("emails")
        emails.post(use: create)
        emails.post("batch", use: createBatch)
        emails.post("retry", use: retryAll)
        emails.post("cancel", use: cancelAll)
        emails.get(use: list)
        emails.get(":id", use: show)
        emails.post(":id/retry", use: retry)
        emails.post(":id/cancel", use: cancel)
    }

    /// Answers 202 only once the email is on disk.
    @Sendable func create(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let body = try await acceptableBody(request)
        return try await accept(request, body: body, key: key, context: context) { now in
            let parsed = try SendEmailRequest.parse(body, now: now, providers: providers)
            let email = newEmail(parsed, key: key, now: now)
            let answer = Data(#"{"id":"\#(email.id)","status":"queued"}"#.utf8)
            return ([email], IdempotentAnswer(status: 202, body: answer, location: "/v1/emails/\(email.id)"))
        }
    }

    /// Up to `maxBatchEmails` emails in one request and one commit. With `validation=strict`
    /// (the default) one invalid email refuses the batch, its problems named `emails[i].field`;
    /// with `validation=permissive` the valid ones are queued and the invalid ones listed.
    @Sendable func createBatch(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let validation = request.uri.queryParameters["validation"].map(String.init) ?? "strict"
        guard validation == "strict" || validation == "permissive" else {
            throw APIError.validationFailed([.init(field: "validation", code: "invalid_value", message: "must be strict or permissive")])
        }
        let body = try await acceptableBody(request)
        return try await accept(request, body: body, key: key, context: context) { now in
            let results = try SendEmailRequest.parseBatch(body, maxEmails: maxBatchEmails, now: now, providers: providers)
            let problems = results.enumerated().flatMap { index, result in
                guard case .failure(let problems) = result else { return [APIError.FieldProblem]() }
                return problems.details.map {
                    .init(field: "emails[\(index)]" + ($0.field.isEmpty ? "" : ".\($0.field)"), code: $0.code, message: $0.message)
                }
            }
            let valid = results.enumerated().compactMap { index, result in
                guard case .success(let parsed) = result else { return nil as (Int, NewEmail)? }
                return (index, newEmail(parsed, key: key, now: now))
            }
            guard validation == "permissive" ? !valid.isEmpty : problems.isEmpty else { throw APIError.validationFailed(problems) }
            let answer = try JSONResponse.encode(
                BatchBody(data: valid.map { BatchBody.Queued(index: $0.0, id: $0.1.id.rawValue) }, errors: problems))
            return (valid.map(\.1), IdempotentAnswer(status: 202, body: answer, location: nil))
        }
    }

    /// Stores the emails that `build` makes and answers with its answer. With an
    /// `Idempotency-Key` (1 to 256 printable characters, per API key, kept 24 h) a repeat of the
    /// same request gets the first answer again with `Idempotent-Replayed: true` and stores
    /// nothing; the same key on another request is a 422, and a repeat while the first still
    /// runs a 409. The answer is stored in the transaction that stores the emails; a request
    /// that fails leaves nothing behind, so that it can be retried.
    private func accept(
        _ request: Request, body: Data, key: APIKey, context: Context,
        build: (Date) throws -> (emails: [NewEmail], answer: IdempotentAnswer)
    ) async throws -> Response {
        var claim: HeldClaim?
        if let idempotency = try Self.idempotencyKey(request, apiKey: key) {
            switch try await store.claim(idempotency, requestHash: Self.requestHash(request, body: body), now: clock.now) {
            case .claimed(let token):
                claim = HeldClaim(key: idempotency, token: token)
            case .replay(let answer):
                return Self.response(answer, replayed: true)
            case .reusedForAnotherRequest:
                throw APIError(
                    .unprocessableContent, code: "idempotency_key_reused",
                    message: "this Idempotency-Key was used for a different request")
            case .inProgress:
                throw APIError.idempotencyKeyInProgress
            }
        }
        do {
            let (emails, answer) = try build(clock.now)
            try await commit(emails, answering: claim.map { ($0, answer) }, context: context)
            return Self.response(answer, replayed: false)
        } catch let refusal as APIError where Self.keepsIdempotentAnswer(refusal.status) {
            if let claim { await keep(refusal, under: claim) }
            throw refusal
        } catch {
            if let claim { try? await store.release(claim.key, claim: claim.token) }
            throw error
        }
    }

    /// An idempotency key this request claimed, and so may answer.
    private struct HeldClaim {
        let key: IdempotencyKey
        let token: IdempotencyClaimToken
    }

    /// Keeps a refusal as the answer to its idempotency key, since the same request would be
    /// refused the same way; a refusal that cannot be kept leaves the key free instead.
    private func keep(_ refusal: APIError, under claim: HeldClaim) async {
        do {
            let answer = IdempotentAnswer(status: refusal.status.code, body: try refusal.body(), location: nil)
            try await store.insert(batch: [], answering: claim.key, claim: claim.token, with: answer, now: clock.now)
        } catch {
            try? await store.release(claim.key, claim: claim.token)
        }
    }

    /// Whether an answer is kept for its idempotency key: client errors are, since a repeat of
    /// the request gets the same answer; 429 and 5xx are not, since a repeat may succeed.
    private static func keepsIdempotentAnswer(_ status: HTTPResponse.Status) -> Bool {
        status.kind == .clientError && status != .tooManyRequests
    }

    private static func idempotencyKey(_ request: Request, apiKey: APIKey) throws(APIError) -> IdempotencyKey? {
        guard let value = request.headers[.idempotencyKey] else { return nil }
        guard (1...256).contains(value.count), value.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw APIError.validationFailed([
                .init(field: "Idempotency-Key", code: "invalid_idempotency_key", message: "must be 1 to 256 printable ASCII characters")
            ])
        }
        return IdempotencyKey(apiKeyID: apiKey.id, value: value)
    }

    /// What makes two requests the same: route, query and body.
    private static func requestHash(_ request: Request, body: Data) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method) \(request.uri.path)?\(request.uri.query ?? "")\n".utf8))
        hasher.update(data: body)
        return Array(hasher.finalize())
    }

    private static func response(_ answer: IdempotentAnswer, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let location = answer.location { headers[.location] = location }
        if replayed { headers[.idempotentReplayed] = "true" }
        // Read back from the store: a status out of HTTP's range would trap HTTPTypes.
        return Response(
            status: .init(code: (100...599).contains(answer.status) ? answer.status : 500), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// The filter of a bulk retry or cancel, from the request's JSON body.
    private func bulk(_ request: Request, tenant: String) async throws -> (filter: EmailFilter, dryRun: Bool) {
        var (filter, dryRun) = try SendEmailRequest.parseBulk(try await request.jsonBody(of: "filter", upTo: 64 * 1024))
        filter.tenant = tenant
        return (filter, dryRun)
    }

    /// The body of a request that may add emails: not while draining, JSON, within the limit.
    private func acceptableBody(_ request: Request) async throws -> Data {
        guard !state.isDraining else { throw APIError.shuttingDown }
        return try await request.jsonBody(of: "email", upTo: maxBodyBytes)
    }

    /// Stores the emails in one commit, with the answer kept for their idempotency key; only
    /// then may the client hear 202.
    private func commit(
        _ emails: [NewEmail], answering idempotency: (claim: HeldClaim, answer: IdempotentAnswer)?, context: Context
    ) async throws {
        do {
            if let (claim, answer) = idempotency {
                try await store.insert(batch: emails, answering: claim.key, claim: claim.token, with: answer, now: clock.now)
            } else {
                try await store.insert(batch: emails)
            }
        } catch let error as StoreError where error.code == .claimLost {
            // A retry took the key over after this request ran for over a minute; its emails
            // are the ones stored, and this request stored none.
            throw APIError.idempotencyKeyInProgress
        } catch {
            context.logger.error(
                "could not store emails", metadata: ["email.ids": "\(emails.map(\.id.rawValue))", "error": "\(error)"])
            throw APIError(
                .serviceUnavailable, code: "not_accepted", message: "Herald could not store the email, so it was not accepted; retry",
                headers: [.retryAfter: "1"]
            )
        }
        accepted.increment(by: emails.count)
        onAccepted()
    }

    @Sendable func show(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        let id = try Self.emailID(context)
        guard let email = try await store.email(id, tenant: key.tenant) else { throw APIError.notFound("email \(id)") }
        return try JSONResponse.make(EmailBody(email))
    }

    @Sendable func list(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        let query = request.uri.queryParameters
        var problems: [APIError.FieldProblem] = []
        var filter = EmailFilter(tenant: key.tenant)
        if let raw = query["status"] {
            filter.status = EmailStatus(rawValue: String(raw))
            if filter.status == nil {
                let known = EmailStatus.allCases.map(\.rawValue).joined(separator: ", ")
                problems.append(.init(field: "status", code: "invalid_value", message: "must be one of \(known)"))
            }
        }
        var limit = 50
        if let raw = query["limit"] {
            if let value = Int(raw), (1...200).contains(value) {
                limit = value
            } else {
                problems.append(.init(field: "limit", code: "invalid_value", message: "must be a whole number from 1 to 200"))
            }
        }
        var cursor: EmailID?
        if let raw = query["cursor"] {
            cursor = EmailID(raw)
            if cursor == nil { problems.append(.init(field: "cursor", code: "invalid_value", message: "is not a cursor from this API")) }
        }
        // An address as stored, the longest RFC 5321 allows; its case does not matter. Tags and
        // provider names are bounded as a send request bounds them.
        for (field, path, maximum) in [("recipient", \EmailFilter.recipient, 320), ("tag", \.tag, 512), ("provider", \.provider, 256)] {
            guard let raw = query[Substring(field)].map(String.init) else { continue }
            if raw.isEmpty || raw.utf8.count > maximum {
                problems.append(.init(field: field, code: "invalid_value", message: "must be 1 to \(maximum) bytes"))
            } else {
                filter[keyPath: path] = raw
            }
        }
        for (field, path) in [("created_after", \EmailFilter.createdAfter), ("created_before", \.createdBefore)] {
            guard let raw = query[Substring(field)].map(String.init) else { continue }
            filter[keyPath: path] = SendEmailRequest.date(raw)
            if filter[keyPath: path] == nil {
                problems.append(.init(field: field, code: "invalid_date", message: "must be an RFC 3339 time"))
            }
        }
        guard problems.isEmpty else { throw APIError.validationFailed(problems) }
        let emails = try await store.emails(matching: filter, limit: limit, after: cursor)
        let nextCursor = emails.count == limit ? emails.last?.id : nil
        return try JSONResponse.make(PageBody(data: emails.map(EmailSummaryBody.init), nextCursor: nextCursor?.rawValue))
    }

    @Sendable func retry(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let id = try Self.emailID(context)
        try await Self.mapStoreErrors(id) { try await store.retry(id, tenant: key.tenant, now: clock.now) }
        onAccepted()
        return try JSONResponse.make(["id": id.rawValue, "status": EmailStatus.queued.rawValue], status: .accepted)
    }

    /// Retries every failed email of the key's tenant that matches the filter in the body.
    @Sendable func retryAll(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let (filter, dryRun) = try await bulk(request, tenant: key.tenant)
        if dryRun { return try JSONResponse.make(["matching": try await store.count(matching: filter, in: EmailStatus.retryable)]) }
        let count = try await store.retry(matching: filter, now: clock.now)
        if count > 0 { onAccepted() }
        return try JSONResponse.make(["retried": count])
    }

    /// Cancels every queued or deferred email of the key's tenant that matches the filter.
    @Sendable func cancelAll(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let (filter, dryRun) = try await bulk(request, tenant: key.tenant)
        if dryRun { return try JSONResponse.make(["matching": try await store.count(matching: filter, in: EmailStatus.cancellable)]) }
        return try JSONResponse.make(["cancelled": try await store.cancel(matching: filter, now: clock.now)])
    }

    @Sendable func cancel(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let id = try Self.emailID(context)
        try await Self.mapStoreErrors(id) { try await store.cancel(id, tenant: key.tenant, now: clock.now) }
        return try JSONResponse.make(["id": id.rawValue, "status": EmailStatus.cancelled.rawValue])
    }

    private static func mapStoreErrors(_ id: EmailID, _ operation: () async throws -> Void) async throws {
        do {
            try await operation()
        } catch let error as StoreError where error.code == .notFound {
            throw APIError.notFound("email \(id)")
        } catch let error as StoreError where error.code == .invalidTransition {
            throw APIError(.conflict, code: "invalid_state", message: error.message)
        }
    }

    private static func emailID(_ context: Context) throws -> EmailID {
        let raw = try context.parameters.require("id")
        guard let id = EmailID(raw) else { throw APIError.notFound("email \(raw)") }
        return id
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

struct EmailBody: Encodable {
    let id: String
    let status: String
    let createdAt: Date
    let updatedAt: Date
    let nextAttemptAt: Date?
    let provider: String?
    let providerMessageID: String?
    let failureReason: String?
    let sendAt: Date?
    let contentRemovedAt: Date?
    let from: String
    let to: [String]
    let cc: [String]
    let replyTo: [String]
    let subject: String
    let tags: [String]
    let metadata: [String: String]
    let attempts: [Attempt]
    let events: [EmailEvent]
    let recipients: [RecipientBody]
    let providerEvents: [ProviderEventBody]

    init(_ email: EmailDetail) {
        self.id = email.id.rawValue
        self.status = email.status.rawValue
        self.createdAt = email.createdAt
        self.updatedAt = email.updatedAt
        self.nextAttemptAt = email.status == .deferred ? email.nextAttemptAt : nil
        self.provider = email.status == .sent ? email.provider : nil
        self.providerMessageID = email.status == .sent ? email.providerMessageID : nil
        self.failureReason = email.status == .sent ? nil : email.failureReason
        self.sendAt = email.sendAt
        self.contentRemovedAt = email.contentRemovedAt
        // Bcc stays out: its recipients are hidden from the others, and from readers of the email.
        self.from = email.message.from.description
        self.to = email.message.to.map(\.description)
        self.cc = email.message.cc.map(\.description)
        self.replyTo = email.message.replyTo.map(\.description)
        self.subject = email.message.subject
        self.tags = email.message.tags
        self.metadata = email.message.metadata
        self.attempts = email.attempts
        self.events = email.events
        self.recipients = email.recipients.map(RecipientBody.init)
        self.providerEvents = email.providerEvents.map(ProviderEventBody.init)
    }

    enum CodingKeys: String, CodingKey {
        case id, status, provider, tags, metadata, attempts, events, recipients, from, to, cc, subject
        case replyTo = "reply_to"
        case providerEvents = "provider_events"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case nextAttemptAt = "next_attempt_at"
        case providerMessageID = "provider_message_id"
        case failureReason = "failure_reason"
        case sendAt = "send_at"
        case contentRemovedAt = "content_removed_at"
    }
}

/// The answer to a batch: the queued emails by their index in the request, and the problems
/// of the ones left out (permissive validation only).
struct BatchBody: Encodable {
    struct Queued: Encodable {
        let index: Int
        let id: String
        let status = "queued"

        enum CodingKeys: String, CodingKey {
            case index, id, status
        }
    }

    let data: [Queued]
    let errors: [APIError.FieldProblem]
}

struct EmailSummaryBody: Encodable {
    let id: String
    let status: String
    let createdAt: Date
    let updatedAt: Date
    let provider: String?

    init(_ email: EmailSummary) {
        self.id = email.id.rawValue
        self.status = email.status.rawValue
        self.createdAt = email.createdAt
        self.updatedAt = email.updatedAt
        self.provider = email.status == .sent ? email.provider : nil
    }

    enum CodingKeys: String, CodingKey {
        case id, status, provider
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// One page of a list: its items, and the cursor of the next page (`null` on the last).
struct PageBody<Item: Encodable>: Encodable {
    let data: [Item]
    let nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
