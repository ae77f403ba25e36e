import Foundation
import GRDB
import HeraldCore

/// An email's content as the `email_contents` table holds it: the text and HTML bodies in
/// columns of their own, everything else as JSON.
///
/// The bodies are most of an email's bytes and full of line breaks, which JSON escapes; every
/// delivery round decodes the content again, and unescaping them was the largest cost of it.
struct StoredContent: Sendable {
    var json: Data
    var text: String?
    var html: String?

    init(_ message: EmailMessage) throws {
        var rest = message
        (rest.text, rest.html) = (nil, nil)
        (json, text, html) = (try JSONEncoder().encode(rest), message.text, message.html)
    }

    /// The `message`, `text` and `html` columns of `row`.
    init(row: Row) {
        (json, text, html) = (row["message"], row["text"], row["html"])
    }

    func message(decoder: JSONDecoder = JSONDecoder()) throws -> EmailMessage {
        var message = try decoder.decode(EmailMessage.self, from: json)
        // Rows written before the bodies had columns keep them in the JSON.
        if let text { message.text = text }
        if let html { message.html = html }
        return message
    }
}
