import Foundation

/// What Elastic Email's REST API v4 requires of Herald's requests. Each check cites its page.
enum ElasticEmailFormat {
    static let apiKey = "elastic-test-key"

    /// The check of the key: GET https://api.elasticemail.com/v4/domains ("Load Domains", no
    /// parameters, Required Access Level: ViewSettings) with the key in X-ElasticEmail-ApiKey.
    /// https://elasticemail.com/developers/api-documentation/rest-api#operation/domainsGet
    /// https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/DomainsApi.md
    static func domainsProblems(_ request: RecordedRequest) -> [String] {
        request.problems(reading: "/v4/domains", headers: ["X-ElasticEmail-ApiKey": apiKey])
    }

    static func problems(_ request: RecordedRequest) -> [String] {
        var problems: [String] = []
        // POST https://api.elasticemail.com/v4/emails/transactional
        // https://elasticemail.com/developers/api-documentation/rest-api#operation/emailsTransactionalPost
        if request.method != "POST" || request.path != "/v4/emails/transactional" {
            problems.append("expected POST /v4/emails/transactional, got \(request.method) \(request.path)")
        }
        // The API key goes in the X-ElasticEmail-ApiKey header (the SDK's "apikey" scheme).
        // https://elasticemail.com/developers/api-documentation/rest-api#section/Authentication
        if request.header("X-ElasticEmail-ApiKey") != apiKey { problems.append("X-ElasticEmail-ApiKey is not the key") }
        if request.header("Content-Type")?.hasPrefix("application/json") != true { problems.append("Content-Type is not application/json") }
        guard let json = request.json else { return problems + ["the body is not a JSON object"] }

        // EmailTransactionalMessageData: Recipients {To, CC, BCC} (lists of strings) and Content
        // required; Content.From required.
        // https://elasticemail.com/developers/api-documentation/rest-api#operation/emailsTransactionalPost
        // https://docs.rs/crate/ElasticEmail/4.2.0/source/src/models/email_transactional_message_data.rs
        guard let recipients = json.object("Recipients") else { return problems + ["Recipients is missing"] }
        if (recipients["To"] as? [String])?.isEmpty != false { problems.append("Recipients.To is missing or empty") }
        for key in ["CC", "BCC"] where recipients[key] != nil && !(recipients[key] is [String]) {
            problems.append("Recipients.\(key) is not a list of strings")
        }
        guard let content = json.object("Content") else { return problems + ["Content is missing"] }
        if content.string("From") == nil { problems.append("Content.From is missing") }
        // Body: BodyPart {ContentType: HTML | PlainText | AMP | CSS, Content, Charset}.
        // https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/BodyPart.md
        // https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/BodyContentType.md
        let body = content.array("Body") ?? []
        if body.isEmpty { problems.append("Content.Body is missing or empty") }
        for part in body {
            if !["HTML", "PlainText", "AMP", "CSS"].contains(part.string("ContentType") ?? "") {
                problems.append("a body part has no valid ContentType")
            }
            if part.string("Content") == nil { problems.append("a body part has no Content") }
        }
        // Attachments: MessageAttachment {BinaryContent (base64), Name, ContentType}.
        // https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/MessageAttachment.md
        for attachment in content.array("Attachments") ?? [] {
            if attachment.string("BinaryContent").flatMap({ Data(base64Encoded: $0) }) == nil {
                problems.append("attachment BinaryContent is not base64")
            }
            if attachment.string("Name") == nil { problems.append("attachment has no Name") }
        }
        // Headers: a key-value collection of custom e-mail headers; Postback: a string.
        // https://docs.rs/crate/ElasticEmail/4.2.0/source/docs/EmailContent.md
        if let headers = content["Headers"], !(headers is [String: String]) { problems.append("Content.Headers is not a string map") }
        if let postback = content["Postback"], !(postback is String) { problems.append("Content.Postback is not a string") }
        // Options.ChannelName: at most 60 characters (as the v2 API's channel field).
        // http://elasticemail.com/api-documentation/send
        if let channel = json.object("Options")?.string("ChannelName"), channel.count > 60 { problems.append("ChannelName is too long") }
        return problems
    }
}
