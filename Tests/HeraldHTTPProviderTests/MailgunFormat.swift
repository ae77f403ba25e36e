import Foundation

/// What Mailgun's Messages and Domains APIs require of Herald's requests. Each check cites its page.
enum MailgunFormat {
    static let apiKey = "key-mailgun-test"
    static let domain = "mg.herald-test.example"
    static let reference =
        "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages"

    static func parts(_ request: RecordedRequest) throws -> [FormPart] {
        try MultipartParser.parse(request.body, contentType: request.header("Content-Type") ?? "")
    }

    /// The check of the key and domain: GET /v4/domains/{name} ("Get domain details"), with the
    /// same HTTP basic auth as every call, user "api" and the API key as password.
    /// https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/domains/get-v4-domains--name-
    /// https://documentation.mailgun.com/docs/mailgun/api-reference/authentication
    static func domainProblems(_ request: RecordedRequest) -> [String] {
        request.problems(
            reading: "/v4/domains/\(domain)", headers: ["Authorization": "Basic " + Data("api:\(apiKey)".utf8).base64EncodedString()])
    }

    static func problems(_ request: RecordedRequest) -> [String] {
        var problems: [String] = []
        // POST /v3/{domain_name}/messages
        // https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
        if request.method != "POST" || request.path != "/v3/\(domain)/messages" {
            problems.append("expected POST /v3/\(domain)/messages, got \(request.method) \(request.path)")
        }
        // HTTP basic auth, user "api", password the API key.
        // https://documentation.mailgun.com/docs/mailgun/api-reference/authentication
        let expected = "Basic " + Data("api:\(apiKey)".utf8).base64EncodedString()
        if request.header("Authorization") != expected { problems.append("Authorization is not basic api:<key>") }
        // The body is multipart/form-data (required for attachments).
        // https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
        guard request.header("Content-Type")?.hasPrefix("multipart/form-data") == true else {
            return problems + ["Content-Type is not multipart/form-data"]
        }
        let parts: [FormPart]
        do {
            parts = try Self.parts(request)
        } catch {
            return problems + ["\(error)"]
        }
        let named = { (name: String) in parts.filter { $0.name == name } }
        // Required: from (once), to (one or more), subject; at least one of text, html.
        // https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
        if named("from").count != 1 { problems.append("from must be given once") }
        if named("to").isEmpty { problems.append("to is missing") }
        if named("subject").count != 1 { problems.append("subject must be given once") }
        if named("text").isEmpty && named("html").isEmpty { problems.append("neither text nor html") }
        // Plain fields carry no file name; attachment and inline are file parts with one.
        for part in parts {
            let isFile = part.name == "attachment" || part.name == "inline"
            if isFile && part.filename == nil { problems.append("\(part.name) part without a filename") }
            if !isFile && part.filename != nil { problems.append("field \(part.name) sent as a file") }
        }
        // Known parameters and the o:, h:, v:, t: prefixes only.
        let known: Set<String> = ["from", "to", "cc", "bcc", "subject", "text", "html", "amp-html", "attachment", "inline", "template"]
        for part in parts where !known.contains(part.name) && !["o:", "h:", "v:", "t:"].contains(where: { part.name.hasPrefix($0) }) {
            problems.append("unknown parameter \(part.name)")
        }
        // Up to 3 tags per message.
        // https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/track-tagging
        if named("o:tag").count > 3 { problems.append("more than 3 o:tag values") }
        // "Send options (parameters starting with o:, h:, v:, or t:) are limited to 16KB total."
        // https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
        let optionBytes = parts.filter { ["o:", "h:", "v:", "t:"].contains(where: $0.name.hasPrefix) }.reduce(0) {
            $0 + $1.name.utf8.count + $1.content.count
        }
        if optionBytes > 16 * 1024 { problems.append("send options exceed 16KB") }
        return problems
    }
}
