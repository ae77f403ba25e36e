import Foundation

/// What Postmark's Email and Server APIs require of Herald's requests. Each check cites its page.
enum PostmarkFormat {
    static let serverToken = "postmark-test-token"

    /// The check of the token: GET https://api.postmarkapp.com/server with `Accept:
    /// application/json` and `X-Postmark-Server-Token` (both required).
    /// https://postmarkapp.com/developer/api/server-api
    static func serverProblems(_ request: RecordedRequest) -> [String] {
        request.problems(reading: "/server", headers: ["X-Postmark-Server-Token": serverToken, "Accept": "application/json"])
    }

    static func problems(_ request: RecordedRequest) -> [String] {
        var problems: [String] = []
        // POST https://api.postmarkapp.com/email
        // https://postmarkapp.com/developer/api/email-api
        if request.method != "POST" || request.path != "/email" {
            problems.append("expected POST /email, got \(request.method) \(request.path)")
        }
        // Headers: Accept and Content-Type application/json, X-Postmark-Server-Token.
        // https://postmarkapp.com/developer/api/email-api
        if request.header("X-Postmark-Server-Token") != serverToken { problems.append("X-Postmark-Server-Token is not the token") }
        if request.header("Accept")?.contains("application/json") != true { problems.append("Accept is not application/json") }
        if request.header("Content-Type")?.hasPrefix("application/json") != true { problems.append("Content-Type is not application/json") }
        guard let json = request.json else { return problems + ["the body is not a JSON object"] }

        // From and To required; To, Cc, Bcc are comma-separated strings of at most 50 addresses
        // in all; TextBody or HtmlBody required.
        // https://postmarkapp.com/developer/api/email-api
        // https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean
        if json.string("From") == nil { problems.append("From is missing") }
        if json.string("To") == nil { problems.append("To is missing") }
        var recipients = 0
        for key in ["To", "Cc", "Bcc", "ReplyTo"] {
            guard let value = json[key] else { continue }
            guard let list = value as? String else {
                problems.append("\(key) is not a comma-separated string")
                continue
            }
            if key != "ReplyTo" { recipients += list.split(separator: ",").count }
        }
        if recipients > 50 { problems.append("more than 50 recipients") }
        if json.string("TextBody") == nil && json.string("HtmlBody") == nil { problems.append("neither TextBody nor HtmlBody") }
        // Headers: a list of {Name, Value}.
        // https://postmarkapp.com/developer/api/email-api
        if let headers = json["Headers"] {
            if let headers = headers as? [[String: String]] {
                if headers.contains(where: { $0["Name"] == nil || $0["Value"] == nil }) { problems.append("a header lacks Name or Value") }
            } else {
                problems.append("Headers is not a list of {Name, Value}")
            }
        }
        // Attachments: Name, Content (base64), ContentType; ContentID "cid:..." for inline images.
        // https://postmarkapp.com/developer/user-guide/send-email-with-api/send-a-single-email
        for attachment in json.array("Attachments") ?? [] {
            if attachment.string("Name") == nil || attachment.string("ContentType") == nil {
                problems.append("attachment lacks Name or ContentType")
            }
            if attachment.string("Content").flatMap({ Data(base64Encoded: $0) }) == nil {
                problems.append("attachment Content is not base64")
            }
            if let id = attachment.string("ContentID"), !id.hasPrefix("cid:") { problems.append("ContentID is not cid:...") }
        }
        // Tag: a string of at most 1000 characters.
        // https://postmarkapp.com/developer/api/email-api
        if let tag = json["Tag"], (tag as? String).map({ $0.count <= 1000 }) != true { problems.append("Tag is not a short string") }
        // Metadata: at most 10 fields, keys up to 20 characters, values up to 80.
        // https://postmarkapp.com/support/article/1125-custom-metadata-faq
        if let metadata = json["Metadata"] {
            if let metadata = metadata as? [String: String] {
                if metadata.count > 10 || metadata.contains(where: { $0.key.count > 20 || $0.value.count > 80 }) {
                    problems.append("Metadata is too large")
                }
            } else {
                problems.append("Metadata values must be strings")
            }
        }
        // MessageStream: the stream's id, "outbound" for the default transactional stream.
        // https://postmarkapp.com/developer/api/email-api
        if let stream = json["MessageStream"], !(stream is String) { problems.append("MessageStream is not a string") }
        return problems
    }
}
