import Foundation
import HeraldCore
import Hummingbird

/// `/events/{provider}`: where each configured provider sends its events (deliveries,
/// bounces, complaints, opens and clicks).
///
/// Outside `/v1` and never behind an API key: each provider proves who it is in its own way
/// (a signature, a secret in the URL, basic auth), which its ``ProviderEventReceiver``
/// checks. A refused request is counted and answered 401 (or 400 for a payload that cannot
/// be read), and nothing of it is stored. An accepted one is answered 200 once its events are
/// committed, so that a provider whose request failed sends it again; events that match no
/// email are counted and dropped, since a provider would otherwise retry them for days.
public struct EventsController<Context: RequestContext>: Sendable {
    let receivers: [String: any ProviderEventReceiver]
    let sink: any ProviderEventSink
    let clock: any WallClock
    let maxBodyBytes: Int

    public init(receivers: [String: any ProviderEventReceiver], sink: any ProviderEventSink, clock: any WallClock, maxBodyBytes: Int) {
        self.receivers = receivers
        self.sink = sink
        self.clock = clock
        self.maxBodyBytes = maxBodyBytes
    }

    public func addRoutes(to router: some RouterMethods<Context>) {
        let events = router.group("events")
        events.post(":provider", use: receive)
        // Elastic Email notifies with GET requests and query parameters.
        events.get(":provider", use: receive)
    }

    @Sendable func receive(request: Request, context: Context) async throws -> Response {
        let name = try context.parameters.require("provider")
        guard let receiver = receivers[name] else { throw APIError.notFound("a provider with event reception named \(name)") }
        var headers: [String: String] = [:]
        for field in request.headers {
            let key = field.name.canonicalName
            headers[key] = headers[key].map { $0 + "," + field.value } ?? field.value
        }
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        let body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        let inbound = InboundEventRequest(
            method: request.method.rawValue, headers: headers, query: query, body: body, receivedAt: clock.now)
        let events: [ProviderEvent]
        do {
            events = try await receiver.events(from: inbound)
        } catch {
            await sink.refused(provider: name, because: error)
            throw APIError(
                error.code == .malformed ? .badRequest : .unauthorized, code: "event_\(error.code.rawValue)", message: error.message)
        }
        let outcomes = try await sink.record(events)
        let answer = EventsAnswer(
            received: events.count, recorded: outcomes.count { $0 == .recorded }, duplicates: outcomes.count { $0 == .duplicate },
            unmatched: outcomes.count { $0 == .unmatched })
        return try JSONResponse.make(answer)
    }
}

/// What became of a request's events.
struct EventsAnswer: Encodable {
    let received: Int
    let recorded: Int
    let duplicates: Int
    let unmatched: Int
}
