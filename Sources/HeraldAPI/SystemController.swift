import Foundation
import HeraldCore
import Hummingbird
import Logging

/// Liveness, readiness, the providers' health, and the sandbox controls for chaos drills.
public struct SystemController<Context: RequestContext>: Sendable {
    let store: any EmailStore
    let state: ServiceState
    let providers: any ProviderAdministration

    public init(store: any EmailStore, state: ServiceState, providers: any ProviderAdministration) {
        self.store = store
        self.state = state
        self.providers = providers
    }

    public func addRoutes(to router: Router<Context>) {
        router.get("healthz") { _, _ in try JSONResponse.make(["status": "ok"]) }
        router.get("readyz", use: ready)
        router.get("v1/providers", use: listProviders)
        router.put("v1/admin/providers/:name/sandbox", use: updateSandbox)
    }

    @Sendable func ready(request: Request, context: Context) async throws -> Response {
        guard !state.isDraining else {
            return try JSONResponse.make(["status": "draining"], status: .serviceUnavailable)
        }
        do {
            try await store.checkWritable()
        } catch {
            context.logger.error("store is not writable", metadata: ["error": "\(error)"])
            return try JSONResponse.make(["status": "store_unavailable"], status: .serviceUnavailable)
        }
        return try JSONResponse.make(["status": "ready"])
    }

    @Sendable func listProviders(request: Request, context: Context) async throws -> Response {
        try JSONResponse.make(ProviderListBody(data: providers.statuses().map(ProviderBody.init)))
    }

    @Sendable func updateSandbox(request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("name")
        guard EmailsController<Context>.isJSON(request.headers[.contentType]) else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the settings as application/json")
        }
        let body = try await request.body.collect(upTo: 64 * 1024)
        let behavior: SandboxBehavior
        do {
            behavior = try JSONDecoder().decode(SandboxBehavior.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            guard let context = error.fieldContext else {
                throw APIError(.badRequest, code: "malformed_json", message: "the request body is not a JSON object of sandbox settings")
            }
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.validationFailed([.init(field: field, code: "invalid_value", message: context.debugDescription)])
        }
        let problems = behavior.problems
        guard problems.isEmpty else {
            throw APIError.validationFailed(problems.map { .init(field: $0.field, code: "invalid_value", message: $0.message) })
        }
        try providers.updateSandbox(named: name, to: behavior)
        return try JSONResponse.make(behavior)
    }
}

struct ProviderListBody: Encodable {
    let data: [ProviderBody]
}

struct ProviderBody: Encodable {
    struct Recent: Encodable {
        let calls: Int
        let successRate: Double?
        let meanLatencyMilliseconds: Int?

        enum CodingKeys: String, CodingKey {
            case calls
            case successRate = "success_rate"
            case meanLatencyMilliseconds = "mean_latency_ms"
        }
    }

    let name: String
    let type: String
    let priority: Int
    let breakerState: String
    let breakerOpenUntil: Date?
    let throttledUntil: Date?
    let recent: Recent

    init(_ status: ProviderStatus) {
        self.name = status.name
        self.type = status.kind
        self.priority = status.priority
        self.breakerState = status.breakerState
        self.breakerOpenUntil = status.breakerOpenUntil
        self.throttledUntil = status.throttledUntil
        self.recent = Recent(
            calls: status.recentCalls, successRate: status.recentSuccessRate,
            meanLatencyMilliseconds: status.recentMeanLatencyMilliseconds
        )
    }

    enum CodingKeys: String, CodingKey {
        case name, type, priority, recent
        case breakerState = "breaker_state"
        case breakerOpenUntil = "breaker_open_until"
        case throttledUntil = "throttled_until"
    }
}

extension DecodingError {
    /// The context of an error about one field's value; nil when the body as a whole is wrong.
    fileprivate var fieldContext: Context? {
        switch self {
        case .typeMismatch(_, let context), .dataCorrupted(let context), .valueNotFound(_, let context):
            context.codingPath.isEmpty ? nil : context
        case .keyNotFound:
            nil
        @unknown default:
            nil
        }
    }
}
