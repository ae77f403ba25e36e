import Foundation

/// A `multipart/form-data` body (RFC 7578): text fields and file parts, with a random
/// boundary that appears nowhere in the content.
struct MultipartFormData: Sendable {
    enum Part: Sendable {
        case field(name: String, value: String)
        case file(name: String, filename: String, contentType: String, content: Data)
    }

    private(set) var parts: [Part] = []

    mutating func append(_ name: String, _ value: String) {
        parts.append(.field(name: name, value: value))
    }

    mutating func appendFile(_ name: String, filename: String, contentType: String, content: Data) {
        parts.append(.file(name: name, filename: filename, contentType: contentType, content: content))
    }

    /// The body and the `Content-Type` header value that names its boundary.
    func encoded() -> (contentType: String, body: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        while true {
            let boundary = Self.randomBoundary(using: &generator)
            if let body = encoded(boundary: boundary) {
                return ("multipart/form-data; boundary=\(boundary)", body)
            }
        }
    }

    /// The body with `boundary`, or nil when a part's content contains the boundary.
    func encoded(boundary: String) -> [UInt8]? {
        let delimiter = Array("--\(boundary)".utf8)
        var body: [UInt8] = []
        for part in parts {
            body += delimiter
            body += Array("\r\n".utf8)
            let content: [UInt8]
            switch part {
            case .field(let name, let value):
                body += Array("Content-Disposition: form-data; name=\"\(Self.quoted(name))\"\r\n\r\n".utf8)
                content = Array(value.utf8)
            case .file(let name, let filename, let contentType, let data):
                body += Array(
                    "Content-Disposition: form-data; name=\"\(Self.quoted(name))\"; filename=\"\(Self.quoted(filename))\"\r\n".utf8
                )
                body += Array("Content-Type: \(Self.headerSafe(contentType))\r\n\r\n".utf8)
                content = Array(data)
            }
            if Self.contains(content, delimiter) { return nil }
            body += content
            body += Array("\r\n".utf8)
        }
        body += delimiter
        body += Array("--\r\n".utf8)
        return body
    }

    /// 32 characters from the RFC 2046 boundary alphabet.
    static func randomBoundary(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return "herald-" + String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// A parameter value inside double quotes, escaped as HTML forms do (RFC 7578 §4.2):
    /// `"` as `%22`, CR and LF as `%0D` and `%0A`.
    static func quoted(_ value: String) -> String {
        value.replacingOccurrences(of: "\"", with: "%22").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    static func headerSafe(_ value: String) -> String {
        value.filter { $0 != "\r" && $0 != "\n" }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
