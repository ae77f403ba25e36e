#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An email's content as the stores keep it: the text and HTML bodies apart, everything else
/// as JSON.
///
/// The bodies are most of an email's bytes and full of line breaks, which JSON escapes; every
/// delivery round decodes the content again, and unescaping them was the largest cost of it.
public struct StoredContent: Sendable {
    public var json: Data
    public var text: String?
    public var html: String?

    public init(_ message: EmailMessage) throws {
        var rest = message
        (rest.text, rest.html) = (nil, nil)
        (json, text, html) = (try JSONEncoder().encode(rest), message.text, message.html)
    }

    public init(json: Data, text: String?, html: String?) {
        (self.json, self.text, self.html) = (json, text, html)
    }

    public func message(decoder: JSONDecoder = JSONDecoder()) throws -> EmailMessage {
        var message = try decoder.decode(EmailMessage.self, from: json)
        // Rows written before the bodies had columns keep them in the JSON.
        if let text { message.text = text }
        if let html { message.html = html }
        return message
    }
}
