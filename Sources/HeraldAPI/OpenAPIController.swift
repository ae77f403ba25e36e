import Foundation
import Hummingbird
import Yams

/// `GET /openapi.json`: the API's OpenAPI 3.1 contract, `OpenAPI/openapi.yaml`, as JSON.
public struct OpenAPIController<Context: RequestContext>: Sendable {
    let document: ByteBuffer

    /// Converts the YAML once, at start-up.
    public init() throws {
        let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        // Without timestamps, so that dates in examples stay the strings JSON needs.
        let resolver = Resolver.default.removing(.timestamp)
        let object = try Yams.load(yaml: yaml, resolver) ?? [:]
        document = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    public func addRoutes(to router: Router<Context>) {
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: document))
        }
    }
}
