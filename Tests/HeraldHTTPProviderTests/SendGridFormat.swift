import Foundation

/// What SendGrid's v3 API reference requires of Herald's requests. Each check cites its page.
enum SendGridFormat {
    static let apiKey = "SG.test-key"

    /// The check of the key: GET https://api.sendgrid.com/v3/scopes with
    /// `Authorization: Bearer <<YOUR_API_KEY_HERE>>`; the answer lists the key's scopes.
    /// https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/retrieve-a-list-of-scopes-for-which-this-user-has-access
    static func scopesProblems(_ request: RecordedRequest) -> [String] {
        request.problems(reading: "/v3/scopes", headers: ["Authorization": "Bearer \(apiKey)"])
    }

    static func problems(_ request: RecordedRequest) -> [String] {
        var problems: [String] = []
        // POST https://api.sendgrid.com/v3/mail/send
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        if request.method != "POST" || request.path != "/v3/mail/send" {
            problems.append("expected POST /v3/mail/send, got \(request.method) \(request.path)")
        }
        // Authorization: Bearer <<YOUR_API_KEY_HERE>> (required header)
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        if request.header("Authorization") != "Bearer \(apiKey)" { problems.append("Authorization is not Bearer <key>") }
        // Any API request body is JSON.
        // https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/requests
        if request.header("Content-Type")?.hasPrefix("application/json") != true { problems.append("Content-Type is not application/json") }
        guard let json = request.json else { return problems + ["the body is not a JSON object"] }

        // Required: personalizations (each with a non-empty `to`) and from{email}; cc and bcc,
        // when present, hold at least one address; custom_args values are strings.
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        let personalizations = json.array("personalizations") ?? []
        if personalizations.isEmpty { problems.append("personalizations is missing or empty") }
        for personalization in personalizations {
            if (personalization.array("to") ?? []).isEmpty { problems.append("a personalization has no to") }
            for key in ["to", "cc", "bcc"] {
                guard let list = personalization[key] else { continue }
                guard let addresses = list as? [[String: Any]], !addresses.isEmpty else {
                    problems.append("personalizations.\(key) must be a non-empty list of addresses")
                    continue
                }
                if addresses.contains(where: { $0.string("email") == nil }) { problems.append("an address in \(key) has no email") }
            }
            if let args = personalization["custom_args"], !(args is [String: String]) {
                problems.append("custom_args values must be strings")
            }
        }
        if json.object("from")?.string("email") == nil { problems.append("from.email is missing") }
        // "reply_to is mutually exclusive with reply_to_list."
        // https://docs.sendgrid.com/api-reference/mail-send/mail-send
        if json["reply_to"] != nil && json["reply_to_list"] != nil { problems.append("both reply_to and reply_to_list") }
        if json.string("subject") == nil { problems.append("subject is missing") }
        // content: at least one {type, value}; text/plain first when there are several.
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        let content = json.array("content") ?? []
        if content.isEmpty { problems.append("content is missing or empty") }
        if content.contains(where: { $0.string("type") == nil || $0.string("value") == nil }) {
            problems.append("a content item lacks type or value")
        }
        if content.count > 1, content.first?.string("type") != "text/plain" { problems.append("text/plain is not the first content") }
        // attachments: content (base64) and filename required; disposition inline or
        // attachment; content_id for inline ones.
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        for attachment in json.array("attachments") ?? [] {
            if attachment.string("content").flatMap({ Data(base64Encoded: $0) }) == nil {
                problems.append("attachment content is not base64")
            }
            if attachment.string("filename") == nil { problems.append("attachment has no filename") }
            let disposition = attachment.string("disposition") ?? "attachment"
            if !["inline", "attachment"].contains(disposition) { problems.append("attachment disposition \(disposition)") }
            if disposition == "inline" && attachment.string("content_id") == nil { problems.append("inline attachment without content_id") }
        }
        // headers: string values; SendGrid's reserved headers may not be set.
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        if let headers = json["headers"] {
            if let headers = headers as? [String: String] {
                let reserved: Set<String> = [
                    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from",
                    "subject", "reply-to", "cc", "bcc",
                ]
                for name in headers.keys where reserved.contains(name.lowercased()) { problems.append("reserved header \(name)") }
            } else {
                problems.append("headers values must be strings")
            }
        }
        // categories: at most 10, each at most 255 characters.
        // https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
        if let categories = json["categories"] {
            if let categories = categories as? [String] {
                if categories.count > 10 || categories.contains(where: { $0.count > 255 }) {
                    problems.append("too many or too long categories")
                }
            } else {
                problems.append("categories must be strings")
            }
        }
        return problems
    }
}
