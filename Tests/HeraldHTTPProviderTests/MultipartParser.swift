import Foundation

/// Reads a `multipart/form-data` body (RFC 7578) back into parts, for checking what an adapter sent.
struct FormPart: Sendable {
    let name: String
    let filename: String?
    let contentType: String?
    let content: Data

    var text: String { String(decoding: content, as: UTF8.self) }
}

enum MultipartParser {
    enum Failure: Error, CustomStringConvertible {
        case noBoundary, malformed(String)

        var description: String {
            switch self {
            case .noBoundary: "Content-Type has no boundary"
            case .malformed(let why): "malformed multipart body: \(why)"
            }
        }
    }

    static func boundary(contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    static func parse(_ body: [UInt8], contentType: String) throws -> [FormPart] {
        guard let boundary = boundary(contentType: contentType) else { throw Failure.noBoundary }
        let data = Data(body)
        let delimiter = Data("--\(boundary)".utf8)
        guard let first = data.range(of: delimiter), first.lowerBound == 0 else {
            throw Failure.malformed("does not start with the boundary")
        }
        var parts: [FormPart] = []
        var cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if data[cursor...].starts(with: Data("--".utf8)) { break }
            guard data[cursor...].starts(with: Data("\r\n".utf8)) else { throw Failure.malformed("no CRLF after a boundary") }
            cursor += 2
            guard let headerEnd = data.range(of: Data("\r\n\r\n".utf8), in: cursor..<data.endIndex) else {
                throw Failure.malformed("part headers do not end")
            }
            let headers = String(decoding: data[cursor..<headerEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            guard let next = data.range(of: Data("\r\n".utf8) + delimiter, in: headerEnd.upperBound..<data.endIndex) else {
                throw Failure.malformed("a part has no closing boundary")
            }
            var name: String?
            var filename: String?
            var type: String?
            for header in headers {
                let lower = header.lowercased()
                if lower.hasPrefix("content-disposition:") {
                    guard lower.contains("form-data") else { throw Failure.malformed("a part is not form-data") }
                    name = parameter("name", in: header)
                    filename = parameter("filename", in: header)
                } else if lower.hasPrefix("content-type:") {
                    type = String(header.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces)
                }
            }
            guard let name else { throw Failure.malformed("a part has no name") }
            parts.append(
                FormPart(name: name, filename: filename, contentType: type, content: Data(data[headerEnd.upperBound..<next.lowerBound])))
            cursor = next.upperBound
        }
        return parts
    }

    /// The value of `key="..."` in a Content-Disposition header.
    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == key { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}
