import Foundation
import Hummingbird

/// Encodes response bodies: snake_case keys are spelled out in each type's `CodingKeys`, and
/// times are ISO 8601 in UTC with milliseconds.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encode(value))))
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return try encoder.encode(value)
    }
}

/// Reads request bodies that the API validates field by field.
enum JSONRequest {
    /// The body as a JSON object: a 400 when it is not JSON, a 422 when it is another value.
    static func object(_ body: Data) throws(APIError) -> [String: Any] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw APIError(.badRequest, code: "malformed_json", message: "the request body is not valid JSON")
        }
        guard let object = value as? [String: Any] else {
            throw .validationFailed([.init(field: "", code: "invalid_type", message: "the request body must be a JSON object")])
        }
        return object
    }

    /// JSON's `true` or `false`, as JSONSerialization gives them (a `Bool`, or an `NSNumber`
    /// made from one); nil for anything else, the numbers 1 and 0 included.
    static func boolean(_ value: Any) -> Bool? {
        if let number = value as? NSNumber, type(of: value) != Bool.self {
            return String(cString: number.objCType) == "c" ? number.boolValue : nil
        }
        return value as? Bool
    }
}

extension Request {
    /// The body of a request that must be JSON: a 415 naming `what` when it is declared as
    /// anything else, a 413 past `limit` bytes, which are never read whole.
    func jsonBody(of what: String, upTo limit: Int) async throws -> Data {
        guard declaresJSON else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the \(what) as application/json")
        }
        return Data(try await body.collect(upTo: limit).readableBytesView)
    }

    /// Whether the body is declared as `application/json`, with or without parameters such as
    /// `charset`.
    private var declaresJSON: Bool {
        guard let contentType = headers[.contentType] else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return mediaType == "application/json"
    }
}
