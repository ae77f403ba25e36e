import Foundation
import HeraldCore
import Hummingbird
import Logging
import Metrics

/// `/v1/emails`: accept emails, show them with their history, list, retry and cancel them.
///
/// Each email belongs to the tenant of the key that sent it; another tenant's keys cannot see
/// it (404). Sending needs the `send` scope, reading `read`, bulk operations `admin`.
public struct EmailsController<Context: AuthenticatedRequestContext>: Sendable {
    let store: any EmailStore
    let providers: any ProviderAdministration
    let clock: any WallClock
    let state: ServiceState
    let maxBodyBytes: Int
    let maxBatchEmails: Int
    let accepted: Counter
    let onAccepted: @Sendable () -> Void

    public init(
        store: any EmailStore, providers: any ProviderAdministration, clock: any WallClock, state: ServiceState, maxBodyBytes: Int,
        maxBatchEmails: Int = 100, metricsFactory: any MetricsFactory, onAccepted: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.providers = providers
        self.clock = clock
        self.state = state
        self.maxBodyBytes = maxBodyBytes
        self.maxBatchEmails = maxBatchEmails
        self.accepted = Counter(label: "herald_emails_accepted_total", factory: metricsFactory)
        self.onAccepted = onAccepted
    }

    public func addRoutes(to router: Router<Context>) {
        let emails = router.group("v1/emails")
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
        let now = clock.now
        let parsed = try SendEmailRequest.parse(body, now: now, providers: providers)
        let email = NewEmail(id: EmailID(date: now), message: parsed.message, acceptedAt: now, sendAt: parsed.sendAt, tenant: key.tenant)
        try await commit([email], context: context)
        return Response(
            status: .accepted,
            headers: [.location: "/v1/emails/\(email.id)", .contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"id":"\#(email.id)","status":"queued"}"#))
        )
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
        let now = clock.now
        let results = try SendEmailRequest.parseBatch(body, maxEmails: maxBatchEmails, now: now, providers: providers)
        let problems = results.enumerated().flatMap { index, result in
            guard case .failure(let problems) = result else { return [APIError.FieldProblem]() }
            return problems.details.map {
                .init(field: "emails[\(index)]" + ($0.field.isEmpty ? "" : ".\($0.field)"), code: $0.code, message: $0.message)
            }
        }
        let valid = results.enumerated().compactMap { index, result in
            guard case .success(let parsed) = result else { return nil as (Int, NewEmail)? }
            return (
                index, NewEmail(id: EmailID(date: now), message: parsed.message, acceptedAt: now, sendAt: parsed.sendAt, tenant: key.tenant)
            )
        }
        guard validation == "permissive" ? !valid.isEmpty : problems.isEmpty else { throw APIError.validationFailed(problems) }
        try await commit(valid.map(\.1), context: context)
        return try JSONResponse.make(
            BatchBody(
                data: valid.map { BatchBody.Queued(index: $0.0, id: $0.1.id.rawValue) },
                errors: problems.isEmpty ? [] : problems
            ),
            status: .accepted)
    }

    /// The filter of a bulk retry or cancel, from the request's JSON body.
    private func filter(_ request: Request, tenant: String) async throws -> EmailFilter {
        guard request.declaresJSON else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the filter as application/json")
        }
        var filter = try SendEmailRequest.parseFilter(Data(try await request.body.collect(upTo: 64 * 1024).readableBytesView))
        filter.tenant = tenant
        return filter
    }

    /// The body of a request that may add emails: not while draining, JSON, within the limit.
    private func acceptableBody(_ request: Request) async throws -> Data {
        guard !state.isDraining else { throw APIError.shuttingDown }
        guard request.declaresJSON else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the email as application/json")
        }
        return Data(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
    }

    /// Stores the emails in one commit; only then may the client hear 202.
    private func commit(_ emails: [NewEmail], context: Context) async throws {
        do {
            try await store.insert(batch: emails)
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
        var status: EmailStatus?
        if let raw = query["status"] {
            status = EmailStatus(rawValue: String(raw))
            if status == nil {
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
        guard problems.isEmpty else { throw APIError.validationFailed(problems) }
        let emails = try await store.emails(tenant: key.tenant, status: status, limit: limit, after: cursor)
        let nextCursor = emails.count == limit ? emails.last?.id : nil
        return try JSONResponse.make(EmailListBody(data: emails.map(EmailSummaryBody.init), nextCursor: nextCursor?.rawValue))
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
        let count = try await store.retry(matching: try await filter(request, tenant: key.tenant), now: clock.now)
        if count > 0 { onAccepted() }
        return try JSONResponse.make(["retried": count])
    }

    /// Cancels every queued or deferred email of the key's tenant that matches the filter.
    @Sendable func cancelAll(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let filter = try await filter(request, tenant: key.tenant)
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
    let tags: [String]
    let metadata: [String: String]
    let attempts: [Attempt]
    let events: [EmailEvent]

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
        self.tags = email.message.tags
        self.metadata = email.message.metadata
        self.attempts = email.attempts
        self.events = email.events
    }

    enum CodingKeys: String, CodingKey {
        case id, status, provider, tags, metadata, attempts, events
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case nextAttemptAt = "next_attempt_at"
        case providerMessageID = "provider_message_id"
        case failureReason = "failure_reason"
        case sendAt = "send_at"
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

struct EmailListBody: Encodable {
    let data: [EmailSummaryBody]
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
