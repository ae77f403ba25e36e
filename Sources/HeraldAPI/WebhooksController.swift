import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird

/// What the webhooks routes need from the server: secrets sealed for the store, and the check
/// of an endpoint's URL.
public protocol WebhookSupport: Sendable {
    /// A new `whsec_` secret and its sealed form; throws ``APIError`` when Herald has no key
    /// to seal it with.
    func issueSecret() throws -> (secret: String, sealed: [UInt8])
    /// Why webhooks may not go to `url`; nil when they may.
    func problem(withTarget url: String) -> String?
}

/// `/v1/webhooks`: each tenant's endpoints, their secrets, their delivery log and replays.
///
/// An endpoint's secret is shown once, when it is made or rotated; the store keeps it sealed.
/// Managing endpoints needs the `admin` scope, reading their log `read`.
public struct WebhooksController<Context: AuthenticatedRequestContext>: Sendable {
    let store: any WebhookStore
    let support: any WebhookSupport
    let clock: any WallClock

    public init(store: any WebhookStore, support: any WebhookSupport, clock: any WallClock) {
        self.store = store
        self.support = support
        self.clock = clock
    }

    public func addRoutes(to api: some RouterMethods<Context>) {
        let webhooks = api.group("webhooks")
        webhooks.post(use: create)
        webhooks.get(use: list)
        webhooks.get(":id", use: show)
        webhooks.patch(":id", use: update)
        webhooks.delete(":id", use: remove)
        webhooks.post(":id/rotate-secret", use: rotate)
        webhooks.get(":id/deliveries", use: deliveries)
        webhooks.post(":id/replay", use: replay)
    }

    @Sendable func create(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let object = try JSONRequest.object(try await request.jsonBody(of: "webhook endpoint", upTo: 16 * 1024))
        let fields = try parse(object, requireURL: true)
        let (secret, sealed) = try support.issueSecret()
        let now = clock.now
        let endpoint = WebhookEndpoint(
            id: "wh_" + EmailID(date: now).rawValue.lowercased(), tenant: key.tenant, url: fields.url ?? "",
            eventTypes: fields.types ?? [], enabled: fields.enabled ?? true, createdAt: now, updatedAt: now)
        try await store.createWebhookEndpoint(endpoint, sealedSecret: sealed)
        return try JSONResponse.make(
            WebhookEndpointBody(endpoint, secret: secret), status: .created, headers: [.location: "/v1/webhooks/\(endpoint.id)"])
    }

    @Sendable func list(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        return try JSONResponse.make(["data": try await store.webhookEndpoints(tenant: key.tenant).map { WebhookEndpointBody($0) }])
    }

    @Sendable func show(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        return try JSONResponse.make(WebhookEndpointBody(try await endpoint(context, tenant: key.tenant)))
    }

    /// Changes `url`, `events` or `enabled`; enabling an endpoint Herald disabled clears why.
    @Sendable func update(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        var endpoint = try await endpoint(context, tenant: key.tenant)
        let fields = try parse(JSONRequest.object(try await request.jsonBody(of: "webhook endpoint", upTo: 16 * 1024)), requireURL: false)
        endpoint.url = fields.url ?? endpoint.url
        endpoint.eventTypes = fields.types ?? endpoint.eventTypes
        if let enabled = fields.enabled {
            endpoint.enabled = enabled
            if enabled { endpoint.disabledReason = nil }
        }
        endpoint.updatedAt = clock.now
        guard try await store.updateWebhookEndpoint(endpoint) else { throw APIError.notFound("webhook endpoint \(endpoint.id)") }
        return try JSONResponse.make(WebhookEndpointBody(endpoint))
    }

    @Sendable func remove(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let id = try context.parameters.require("id")
        guard try await store.deleteWebhookEndpoint(id: id, tenant: key.tenant) else { throw APIError.notFound("webhook endpoint \(id)") }
        return Response(status: .noContent)
    }

    /// A new secret; the old one keeps signing (a second signature) for `overlap_seconds`
    /// (default a day, at most a week), while receivers change over.
    @Sendable func rotate(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let endpoint = try await endpoint(context, tenant: key.tenant)
        var overlap = 86_400
        if request.headers[.contentType] != nil {
            let object = try JSONRequest.object(try await request.jsonBody(of: "rotation", upTo: 4096))
            if let value = object["overlap_seconds"] {
                guard let seconds = value as? Int, (0...604_800).contains(seconds), !(value is Bool) else {
                    throw APIError.validationFailed([
                        .init(field: "overlap_seconds", code: "invalid_value", message: "must be a whole number from 0 to 604800")
                    ])
                }
                overlap = seconds
            }
        }
        let (secret, sealed) = try support.issueSecret()
        let now = clock.now
        guard
            try await store.rotateWebhookSecret(
                id: endpoint.id, tenant: key.tenant, sealedSecret: sealed, previousUntil: now.addingTimeInterval(Double(overlap)), now: now)
        else { throw APIError.notFound("webhook endpoint \(endpoint.id)") }
        return try JSONResponse.make(WebhookEndpointBody(endpoint, secret: secret))
    }

    /// The delivery log, newest first: pass `next_before` back as `before` for older attempts.
    @Sendable func deliveries(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        let endpoint = try await endpoint(context, tenant: key.tenant)
        let query = request.uri.queryParameters
        var limit = 50
        var problems: [APIError.FieldProblem] = []
        if let raw = query["limit"] {
            if let value = Int(raw), (1...200).contains(value) {
                limit = value
            } else {
                problems.append(.init(field: "limit", code: "invalid_value", message: "must be a whole number from 1 to 200"))
            }
        }
        let before = try timestamp(query["before"].map(String.init), field: "before", into: &problems)
        guard problems.isEmpty else { throw APIError.validationFailed(problems) }
        let attempts = try await store.webhookAttempts(endpointID: endpoint.id, tenant: key.tenant, limit: limit, before: before)
        return try JSONResponse.make(
            WebhookAttemptPage(data: attempts.map(WebhookAttemptBody.init), nextBefore: attempts.count == limit ? attempts.last?.at : nil))
    }

    /// Sends messages again: one (`message_id`), or those created in `from..<to`.
    @Sendable func replay(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .admin)
        let endpoint = try await endpoint(context, tenant: key.tenant)
        let object = try JSONRequest.object(try await request.jsonBody(of: "replay", upTo: 4096))
        var problems: [APIError.FieldProblem] = []
        let messageID = object["message_id"] as? String
        if object["message_id"] != nil, messageID == nil {
            problems.append(.init(field: "message_id", code: "invalid_type", message: "must be a string"))
        }
        let from = try timestamp(object["from"], field: "from", into: &problems)
        let to = try timestamp(object["to"], field: "to", into: &problems)
        if messageID == nil, from == nil, problems.isEmpty {
            problems.append(.init(field: "", code: "filter_required", message: "give message_id, or from (and to)"))
        }
        guard problems.isEmpty else { throw APIError.validationFailed(problems) }
        let count = try await store.replayWebhooks(
            endpointID: endpoint.id, tenant: key.tenant, messageID: messageID, from: from, to: to, now: clock.now)
        return try JSONResponse.make(["replayed": count], status: .accepted)
    }

    private func endpoint(_ context: Context, tenant: String) async throws -> WebhookEndpoint {
        let id = try context.parameters.require("id")
        guard let endpoint = try await store.webhookEndpoint(id: id, tenant: tenant) else {
            throw APIError.notFound("webhook endpoint \(id)")
        }
        return endpoint
    }

    /// The fields of a create or update, every problem at once.
    private func parse(_ object: [String: Any], requireURL: Bool) throws(APIError) -> (
        url: String?, types: Set<WebhookEventType>?, enabled: Bool?
    ) {
        var problems: [APIError.FieldProblem] = []
        for field in object.keys where !["url", "events", "enabled"].contains(field) {
            problems.append(.init(field: field, code: "unknown_field", message: "is not a field of a webhook endpoint"))
        }
        var url: String?
        switch object["url"] {
        case nil where requireURL: problems.append(.init(field: "url", code: "required", message: "is required"))
        case nil: break
        case let text as String:
            if text.utf8.count > 2048 {
                problems.append(.init(field: "url", code: "too_long", message: "must be at most 2048 bytes"))
            } else if let problem = support.problem(withTarget: text) {
                problems.append(.init(field: "url", code: "invalid_value", message: problem))
            } else {
                url = text
            }
        default: problems.append(.init(field: "url", code: "invalid_type", message: "must be a string"))
        }
        var types: Set<WebhookEventType>?
        if let value = object["events"] {
            if let names = value as? [String] {
                types = []
                for (index, name) in names.enumerated() {
                    guard let type = WebhookEventType(rawValue: name) else {
                        let known = WebhookEventType.allCases.map(\.rawValue).joined(separator: ", ")
                        problems.append(.init(field: "events[\(index)]", code: "invalid_value", message: "must be one of \(known)"))
                        continue
                    }
                    types?.insert(type)
                }
            } else {
                problems.append(.init(field: "events", code: "invalid_type", message: "must be a list of event types; empty for all"))
            }
        }
        var enabled: Bool?
        if let value = object["enabled"] {
            if let flag = JSONRequest.boolean(value) {
                enabled = flag
            } else {
                problems.append(.init(field: "enabled", code: "invalid_type", message: "must be true or false"))
            }
        }
        guard problems.isEmpty else { throw .validationFailed(problems) }
        return (url, types, enabled)
    }

    private func timestamp(_ value: Any?, field: String, into problems: inout [APIError.FieldProblem]) throws -> Date? {
        guard let value else { return nil }
        guard let text = value as? String, let date = try? Date(text, strategy: .iso8601) else {
            problems.append(.init(field: field, code: "invalid_date", message: "must be an RFC 3339 time"))
            return nil
        }
        return date
    }
}

struct WebhookEndpointBody: Encodable {
    let id: String
    let url: String
    let events: [String]
    let enabled: Bool
    let disabledReason: String?
    let createdAt: Date
    let updatedAt: Date
    /// Only when made or rotated.
    let secret: String?

    init(_ endpoint: WebhookEndpoint, secret: String? = nil) {
        self.id = endpoint.id
        self.url = endpoint.url
        self.events = endpoint.eventTypes.map(\.rawValue).sorted()
        self.enabled = endpoint.enabled
        self.disabledReason = endpoint.disabledReason
        self.createdAt = endpoint.createdAt
        self.updatedAt = endpoint.updatedAt
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey {
        case id, url, events, enabled, secret
        case disabledReason = "disabled_reason"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

struct WebhookAttemptBody: Encodable {
    let messageID: String
    let number: Int
    let at: Date
    let statusCode: Int?
    let latencyMilliseconds: Int
    let response: String?
    let error: String?
    let outcome: String
    let nextAttemptAt: Date?

    init(_ attempt: WebhookAttempt) {
        messageID = attempt.messageID
        number = attempt.number
        at = attempt.at
        statusCode = attempt.statusCode
        latencyMilliseconds = attempt.latencyMilliseconds
        response = attempt.response
        error = attempt.error
        switch attempt.next {
        case .delivered: (outcome, nextAttemptAt) = ("delivered", nil)
        case .retry(let at): (outcome, nextAttemptAt) = ("retry", at)
        case .failed: (outcome, nextAttemptAt) = ("failed", nil)
        }
    }

    enum CodingKeys: String, CodingKey {
        case number, at, response, error, outcome
        case messageID = "message_id"
        case statusCode = "status_code"
        case latencyMilliseconds = "latency_ms"
        case nextAttemptAt = "next_attempt_at"
    }
}

struct WebhookAttemptPage: Encodable {
    let data: [WebhookAttemptBody]
    let nextBefore: Date?

    enum CodingKeys: String, CodingKey {
        case data
        case nextBefore = "next_before"
    }
}
