import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird

/// `/v1/suppressions`: each tenant's list of addresses its emails are not sent to.
///
/// Delivery adds an address when a provider refuses it for good; clients add and remove
/// addresses here. Reading needs the `read` scope, changing the list `send`.
public struct SuppressionsController<Context: AuthenticatedRequestContext>: Sendable {
    let store: any SuppressionStore
    let clock: any WallClock

    public init(store: any SuppressionStore, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    /// The suppression list's routes, on the authenticated `/v1` group.
    public func addRoutes(to api: some RouterMethods<Context>) {
        let suppressions = api.group("suppressions")
        suppressions.get(use: list)
        suppressions.post(use: add)
        suppressions.get(":address", use: show)
        suppressions.delete(":address", use: remove)
    }

    @Sendable func list(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        let query = request.uri.queryParameters
        var limit = 50
        if let raw = query["limit"] {
            guard let value = Int(raw), (1...200).contains(value) else {
                throw APIError.validationFailed([
                    .init(field: "limit", code: "invalid_value", message: "must be a whole number from 1 to 200")
                ])
            }
            limit = value
        }
        let page = try await store.suppressions(tenant: key.tenant, limit: limit, after: query["cursor"].map(String.init))
        let nextCursor = page.count == limit ? page.last?.address : nil
        return try JSONResponse.make(PageBody(data: page.map(SuppressionBody.init), nextCursor: nextCursor))
    }

    @Sendable func show(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .read)
        let address = try Self.address(context)
        guard let suppression = try await store.suppression(of: address, tenant: key.tenant) else {
            throw APIError.notFound("suppression of \(address)")
        }
        return try JSONResponse.make(SuppressionBody(suppression))
    }

    /// 201 with the new entry, or 200 with the one already there.
    @Sendable func add(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let object = try JSONRequest.object(try await request.jsonBody(of: "suppression", upTo: 16 * 1024))
        let (address, reason) = try Self.parse(object)
        let (entry, created) = try await store.suppress(
            Suppression(address: address, reason: reason, source: .api, createdAt: clock.now), tenant: key.tenant)
        return try JSONResponse.make(
            SuppressionBody(entry), status: created ? .created : .ok, headers: [.location: Self.location(of: entry)])
    }

    @Sendable func remove(request: Request, context: Context) async throws -> Response {
        let key = try context.key(withScope: .send)
        let address = try Self.address(context)
        guard try await store.unsuppress(address, tenant: key.tenant) else { throw APIError.notFound("suppression of \(address)") }
        return Response(status: .noContent)
    }

    /// Where the entry is, its address escaped so that `/`, `?`, `#` or `%` in a local part
    /// stay in one path segment.
    private static func location(of suppression: Suppression) -> String {
        var segment = CharacterSet.urlPathAllowed
        segment.remove(charactersIn: "/?#%")
        return "/v1/suppressions/" + (suppression.address.addingPercentEncoding(withAllowedCharacters: segment) ?? suppression.address)
    }

    /// The address in the path, where clients may write `@` as it is or as `%40`.
    private static func address(_ context: Context) throws -> String {
        let raw = try context.parameters.require("address")
        return raw.removingPercentEncoding ?? raw
    }

    /// `{"address": "bob@example.com", "reason": "asked to stop"}`; every problem at once.
    private static func parse(_ object: [String: Any]) throws(APIError) -> (address: String, reason: String) {
        var problems: [APIError.FieldProblem] = []
        for field in object.keys.sorted() where field != "address" && field != "reason" {
            problems.append(.init(field: field, code: "unknown_field", message: "is not a field of a suppression"))
        }
        var address = ""
        switch object["address"] {
        case nil, is NSNull: problems.append(.init(field: "address", code: "required", message: "is required"))
        case let text as String: address = SuppressionRequest.address(text, problems: &problems)
        default: problems.append(.init(field: "address", code: "invalid_type", message: "must be a string"))
        }
        var reason = SuppressionRequest.defaultReason
        switch object["reason"] {
        case nil, is NSNull: break
        case let text as String: reason = SuppressionRequest.reason(text, problems: &problems)
        default: problems.append(.init(field: "reason", code: "invalid_type", message: "must be a string"))
        }
        guard problems.isEmpty else { throw .validationFailed(problems) }
        return (address, reason)
    }
}

/// The rules for an address a client adds to its suppression list, shared by the API and the
/// console. Each adds to `problems` what is wrong with its field.
public enum SuppressionRequest {
    public static var maxReasonLength: Int { 500 }
    public static var defaultReason: String { "added through the API" }

    /// The bare address `text` holds; a name or a malformed address is a problem.
    public static func address(_ text: String, problems: inout [APIError.FieldProblem]) -> String {
        do {
            let parsed = try EmailAddress(parsing: text)
            guard parsed.displayName == nil else {
                problems.append(.init(field: "address", code: "invalid_address", message: "must be a bare address, without a name"))
                return ""
            }
            return parsed.address
        } catch {
            problems.append(.init(field: "address", code: error == .lineBreak ? "line_break" : "invalid_address", message: error.message))
            return ""
        }
    }

    public static func reason(_ text: String, problems: inout [APIError.FieldProblem]) -> String {
        if text.count > maxReasonLength {
            problems.append(.init(field: "reason", code: "too_long", message: "is longer than \(maxReasonLength) characters"))
        }
        return text
    }
}

struct SuppressionBody: Encodable {
    let address: String
    let reason: String
    let source: String
    let emailID: String?
    let eventID: String?
    let createdAt: Date

    init(_ suppression: Suppression) {
        self.address = suppression.address
        self.reason = suppression.reason
        self.source = suppression.source.rawValue
        self.emailID = suppression.emailID?.rawValue
        self.eventID = suppression.eventID
        self.createdAt = suppression.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case address, reason, source
        case emailID = "email_id"
        case eventID = "event_id"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(address, forKey: .address)
        try container.encode(reason, forKey: .reason)
        try container.encode(source, forKey: .source)
        try container.encode(emailID, forKey: .emailID)
        try container.encodeIfPresent(eventID, forKey: .eventID)
        try container.encode(createdAt, forKey: .createdAt)
    }
}
