import Foundation
import Hummingbird
import Yams

/// `GET /openapi.json`: the API's OpenAPI 3.1 contract, `OpenAPI/openapi.yaml`, as JSON.
public struct OpenAPIController<Context: RequestContext>: Sendable {
    public init() {}

    public func addRoutes(to router: Router<Context>) {
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try OpenAPIDocument.json.get()))
        }
    }
}

/// The document converted to JSON on its first request, once: parsing the YAML costs tens of
/// milliseconds, which every start-up would otherwise pay before delivering anything.
enum OpenAPIDocument {
    static let json = Result {
        let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        // Without timestamps, so that dates in examples stay the strings JSON needs.
        let resolver = Resolver.default.removing(.timestamp)
        let object = try Yams.load(yaml: yaml, resolver) ?? [:]
        return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
