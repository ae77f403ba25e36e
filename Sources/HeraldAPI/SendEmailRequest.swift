import Foundation
import HeraldCore
import Hummingbird

/// Reads the body of `POST /v1/emails` into an ``EmailMessage``, collecting every problem
/// rather than stopping at the first, so that a client can fix its request in one go.
enum SendEmailRequest {
    static let maxRecipients = 50
    static let maxSubjectLength = 998
    static let maxHeaders = 50
    static let maxTags = 10
    static let maxMetadataEntries = 20
    static let maxAttachments = 20
    /// The bodies and attachments together, as they go out (attachments in base64): above the
    /// largest message any supported provider takes.
    static let maxMessageBytes = 40 * 1024 * 1024
    /// How far ahead `send_at` may be.
    static let maxSchedule: Duration = .seconds(30 * 86_400)

    /// An email as the client asked for it: the message, and when to send it.
    struct Parsed {
        var message: EmailMessage
        var sendAt: Date?
    }

    static let knownFields: Set<String> = [
        "from", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "headers", "attachments", "tags", "metadata",
        "provider_options", "send_at",
    ]

    /// Parses and validates. Throws a 400 for malformed JSON and a 422 listing every field problem.
    static func parse(_ body: Data, now: Date, providers: any ProviderAdministration) throws(APIError) -> Parsed {
        let object = try JSONRequest.object(body)
        switch email(from: object, now: now, providers: providers) {
        case .success(let message): return message
        case .failure(let problems): throw .validationFailed(problems.details)
        }
    }

    /// The emails of `POST /v1/emails/batch` (`{"emails": [...]}`), each valid or with its
    /// problems, fields named as in a single email. Throws for a body that is not such a list
    /// or holds more than `maxEmails`.
    static func parseBatch(
        _ body: Data, maxEmails: Int, now: Date, providers: any ProviderAdministration
    ) throws(APIError) -> [Result<Parsed, Problems>] {
        let object = try JSONRequest.object(body)
        guard let emails = object["emails"] as? [Any] else {
            throw .validationFailed([.init(field: "emails", code: "required", message: "the body must be an object with a list of emails")])
        }
        for key in object.keys.sorted() where key != "emails" {
            throw .validationFailed([.init(field: key, code: "unknown_field", message: "is not a field of a batch")])
        }
        guard !emails.isEmpty else {
            throw .validationFailed([.init(field: "emails", code: "required", message: "a batch needs at least one email")])
        }
        guard emails.count <= maxEmails else {
            throw .validationFailed([
                .init(field: "emails", code: "batch_too_large", message: "a batch holds \(maxEmails) emails at most, not \(emails.count)")
            ])
        }
        return emails.map { entry in
            guard let object = entry as? [String: Any] else {
                return .failure(Problems(details: [.init(field: "", code: "invalid_type", message: "an email must be a JSON object")]))
            }
            return email(from: object, now: now, providers: providers)
        }
    }

    /// Every problem found in one email.
    struct Problems: Error {
        var details: [APIError.FieldProblem]
    }

    private static func email(from object: [String: Any], now: Date, providers: any ProviderAdministration) -> Result<Parsed, Problems> {
        var reader = FieldReader(providers: providers)
        let message = reader.message(from: object)
        let sendAt = reader.sendAt(object["send_at"], now: now)
        guard reader.problems.isEmpty, let message else { return .failure(Problems(details: reader.problems)) }
        return .success(Parsed(message: message, sendAt: sendAt))
    }

    /// An RFC 3339 time with its offset, with or without fractions of a second.
    static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    /// A bulk retry's or cancel's body: the filter, an object with at least one of `status`,
    /// `tag`, `provider`, `recipient`, `created_after` and `created_before`, and `dry_run` to
    /// count what it would move without moving anything.
    static func parseBulk(_ body: Data) throws(APIError) -> (filter: EmailFilter, dryRun: Bool) {
        let object = try JSONRequest.object(body)
        var problems: [APIError.FieldProblem] = []
        var filter = EmailFilter()
        var dryRun = false
        for key in object.keys.sorted()
        where !["status", "tag", "provider", "recipient", "created_after", "created_before", "dry_run"].contains(key) {
            problems.append(.init(field: key, code: "unknown_field", message: "is not a field of a filter"))
        }
        if let value = object["dry_run"], !(value is NSNull) {
            if let flag = JSONRequest.boolean(value) {
                dryRun = flag
            } else {
                problems.append(.init(field: "dry_run", code: "invalid_type", message: "must be true or false"))
            }
        }
        func text(_ key: String) -> String? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let text = value as? String, !text.isEmpty else {
                problems.append(.init(field: key, code: "invalid_type", message: "must be a non-empty string"))
                return nil
            }
            return text
        }
        if let status = text("status") {
            filter.status = EmailStatus(rawValue: status)
            if filter.status == nil { problems.append(.init(field: "status", code: "invalid_value", message: "is not a status")) }
        }
        filter.tag = text("tag")
        filter.provider = text("provider")
        filter.recipient = text("recipient")
        if let recipient = filter.recipient, recipient.utf8.count > 320 {
            problems.append(.init(field: "recipient", code: "invalid_value", message: "must be an address of at most 320 bytes"))
        }
        for (key, path) in [("created_after", \EmailFilter.createdAfter), ("created_before", \EmailFilter.createdBefore)] {
            guard let raw = text(key) else { continue }
            filter[keyPath: path] = date(raw)
            if filter[keyPath: path] == nil {
                problems.append(.init(field: key, code: "invalid_date", message: "must be an RFC 3339 time"))
            }
        }
        if problems.isEmpty, filter == EmailFilter() {
            problems.append(
                .init(
                    field: "", code: "filter_required",
                    message: "name at least one of status, tag, provider, recipient, created_after, created_before"
                ))
        }
        guard problems.isEmpty else { throw .validationFailed(problems) }
        return (filter, dryRun)
    }
}

private struct FieldReader {
    let providers: any ProviderAdministration
    var problems: [APIError.FieldProblem] = []

    mutating func problem(_ field: String, _ code: String, _ message: String) {
        problems.append(.init(field: field, code: code, message: message))
    }

    mutating func message(from object: [String: Any]) -> EmailMessage? {
        for key in object.keys.sorted() where !SendEmailRequest.knownFields.contains(key) {
            problem(key, "unknown_field", "is not a field of an email")
        }
        let from = requiredAddress(object["from"], field: "from")
        let to = addressList(object["to"], field: "to", required: true)
        let cc = addressList(object["cc"], field: "cc", required: false)
        let bcc = addressList(object["bcc"], field: "bcc", required: false)
        let replyTo = addressList(object["reply_to"], field: "reply_to", required: false, allowSingle: true)
        if to.count + cc.count + bcc.count > SendEmailRequest.maxRecipients {
            problem("to", "too_many_recipients", "to, cc and bcc may hold \(SendEmailRequest.maxRecipients) addresses in all")
        }
        let subject = singleLine(object["subject"], field: "subject", maxLength: SendEmailRequest.maxSubjectLength) ?? ""
        let text = string(object["text"], field: "text")
        let html = string(object["html"], field: "html")
        if text == nil && html == nil && problems.allSatisfy({ $0.field != "text" && $0.field != "html" }) {
            problem("text", "required", "an email needs a text or an html body, or both")
        }
        let headers = self.headers(object["headers"])
        let attachments = self.attachments(object["attachments"])
        if attachments.count > SendEmailRequest.maxAttachments {
            problem("attachments", "too_many_attachments", "an email may carry \(SendEmailRequest.maxAttachments) attachments at most")
        }
        let encodedSize =
            (text?.utf8.count ?? 0) + (html?.utf8.count ?? 0) + attachments.reduce(0) { $0 + ($1.content.count + 2) / 3 * 4 }
        if encodedSize > SendEmailRequest.maxMessageBytes {
            problem(
                "attachments", "message_too_large",
                "the bodies and attachments come to \(encodedSize) bytes encoded, more than the \(SendEmailRequest.maxMessageBytes) an email may have"
            )
        }
        let tags = self.tags(object["tags"])
        let metadata = self.metadata(object["metadata"])
        let providerOptions = self.providerOptions(object["provider_options"])

        guard let from, problems.isEmpty else { return nil }
        return EmailMessage(
            from: from, to: to, cc: cc, bcc: bcc, replyTo: replyTo, subject: subject, text: text, html: html,
            headers: headers, attachments: attachments, tags: tags, metadata: metadata, providerOptions: providerOptions
        )
    }

    /// `send_at`: an RFC 3339 time with its offset, at most ``SendEmailRequest/maxSchedule`` ahead.
    mutating func sendAt(_ value: Any?, now: Date) -> Date? {
        guard let value, !(value is NSNull) else { return nil }
        guard let text = value as? String, let date = SendEmailRequest.date(text) else {
            problem("send_at", "invalid_date", "must be an RFC 3339 time such as 2026-12-01T09:30:00Z")
            return nil
        }
        guard date <= now.adding(SendEmailRequest.maxSchedule) else {
            problem("send_at", "too_far_ahead", "may be at most 30 days ahead")
            return nil
        }
        return date
    }

    private mutating func requiredAddress(_ value: Any?, field: String) -> EmailAddress? {
        guard let value, !(value is NSNull) else {
            problem(field, "required", "is required")
            return nil
        }
        return address(value, field: field)
    }

    private mutating func address(_ value: Any, field: String) -> EmailAddress? {
        guard let string = value as? String else {
            problem(field, "invalid_type", "must be a string")
            return nil
        }
        do {
            return try EmailAddress(parsing: string)
        } catch {
            problem(field, [.lineBreak, .controlCharacter].contains(error) ? error.rawValue : "invalid_address", error.message)
            return nil
        }
    }

    private mutating func addressList(_ value: Any?, field: String, required: Bool, allowSingle: Bool = false) -> [EmailAddress] {
        guard let value, !(value is NSNull) else {
            if required { problem(field, "required", "is required") }
            return []
        }
        if allowSingle, value is String {
            return address(value, field: field).map { [$0] } ?? []
        }
        guard let array = value as? [Any] else {
            problem(field, "invalid_type", allowSingle ? "must be a string or a list of strings" : "must be a list of strings")
            return []
        }
        if required && array.isEmpty {
            problem(field, "required", "needs at least one address")
        }
        return array.enumerated().compactMap { index, element in address(element, field: "\(field)[\(index)]") }
    }

    private mutating func string(_ value: Any?, field: String) -> String? {
        guard let value, !(value is NSNull) else { return nil }
        guard let string = value as? String else {
            problem(field, "invalid_type", "must be a string")
            return nil
        }
        return string
    }

    private mutating func singleLine(_ value: Any?, field: String, maxLength: Int) -> String? {
        guard let string = string(value, field: field) else { return nil }
        if string.contains(where: \.isNewline) {
            problem(field, "line_break", "must not contain a line break")
        } else if string.utf8.contains(where: EmailMessage.isForbiddenInHeader) {
            problem(field, "control_character", "must not contain NUL or another control character but tab")
        } else if string.count > maxLength {
            problem(field, "too_long", "must be at most \(maxLength) characters")
        }
        return string
    }

    private mutating func stringMap(_ value: Any?, field: String) -> [String: Any] {
        guard let value, !(value is NSNull) else { return [:] }
        guard let map = value as? [String: Any] else {
            problem(field, "invalid_type", "must be an object of strings")
            return [:]
        }
        return map
    }

    private mutating func headers(_ value: Any?) -> [String: String] {
        let map = stringMap(value, field: "headers")
        if map.count > SendEmailRequest.maxHeaders {
            problem("headers", "too_many", "may hold at most \(SendEmailRequest.maxHeaders) headers")
        }
        var headers: [String: String] = [:]
        for (name, rawValue) in map.sorted(by: { $0.key < $1.key }) {
            let field = "headers.\(name)"
            let isToken = !name.isEmpty && name.utf8.count <= 76 && name.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }
            if !isToken {
                problem(field, "invalid_header_name", "a header name is 1 to 76 printable ASCII characters without a colon")
                continue
            }
            if EmailMessage.reservedHeaderNames.contains(name.lowercased()) {
                problem(field, "reserved_header", "is set by Herald and cannot be given")
                continue
            }
            if let value = singleLine(rawValue, field: field, maxLength: 998) {
                // A word is never split, so the first line holds the name and the first word.
                let longestWord = value.split(separator: " ").map(\.utf8.count).max() ?? 0
                if name.utf8.count + 2 + longestWord > 998 {
                    problem(field, "too_long", "has a word too long to fold within a line of 998 octets")
                } else {
                    headers[name] = value
                }
            }
        }
        return headers
    }

    private mutating func attachments(_ value: Any?) -> [Attachment] {
        guard let value, !(value is NSNull) else { return [] }
        guard let array = value as? [Any] else {
            problem("attachments", "invalid_type", "must be a list of objects")
            return []
        }
        return array.enumerated().compactMap { index, element in
            let field = "attachments[\(index)]"
            guard let object = element as? [String: Any] else {
                problem(field, "invalid_type", "must be an object")
                return nil
            }
            for key in object.keys.sorted() where !["filename", "content", "content_type", "content_id"].contains(key) {
                problem("\(field).\(key)", "unknown_field", "is not a field of an attachment")
            }
            let filename = singleLine(object["filename"], field: "\(field).filename", maxLength: 255)
            if filename == nil, object["filename"] == nil || object["filename"] is NSNull {
                problem("\(field).filename", "required", "is required")
            }
            let contentType =
                singleLine(object["content_type"], field: "\(field).content_type", maxLength: 255) ?? "application/octet-stream"
            if contentType.split(separator: "/").count != 2 || contentType.contains(" ") && !contentType.contains(";") {
                problem("\(field).content_type", "invalid_content_type", "must be a media type such as application/pdf")
            }
            let contentID = singleLine(object["content_id"], field: "\(field).content_id", maxLength: 255)
            var content: Data?
            if let encoded = string(object["content"], field: "\(field).content") {
                content = Data(base64Encoded: encoded)
                if content == nil { problem("\(field).content", "invalid_base64", "must be base64") }
            } else if object["content"] == nil || object["content"] is NSNull {
                problem("\(field).content", "required", "is required")
            }
            guard let filename, let content else { return nil }
            return Attachment(filename: filename, contentType: contentType, content: content, contentID: contentID)
        }
    }

    private mutating func tags(_ value: Any?) -> [String] {
        guard let value, !(value is NSNull) else { return [] }
        guard let array = value as? [Any] else {
            problem("tags", "invalid_type", "must be a list of strings")
            return []
        }
        if array.count > SendEmailRequest.maxTags {
            problem("tags", "too_many", "may hold at most \(SendEmailRequest.maxTags) tags")
        }
        return array.enumerated().compactMap { index, element in
            let tag = singleLine(element, field: "tags[\(index)]", maxLength: 128)
            if tag?.isEmpty == true { problem("tags[\(index)]", "empty", "must not be empty") }
            return tag
        }
    }

    /// `{"<provider name or type>": {"<option>": "<value>"}}`, for configured providers and the
    /// options they read.
    private mutating func providerOptions(_ value: Any?) -> [String: [String: String]] {
        let map = stringMap(value, field: "provider_options")
        var options: [String: [String: String]] = [:]
        for (provider, rawOptions) in map.sorted(by: { $0.key < $1.key }) {
            let field = "provider_options.\(provider)"
            guard let supported = providers.supportedOptions(forProvider: provider) else {
                problem(field, "unknown_provider", "no configured provider has this name or type")
                continue
            }
            for (key, rawValue) in stringMap(rawOptions, field: field).sorted(by: { $0.key < $1.key }) {
                guard supported.contains(key) else {
                    let known = supported.isEmpty ? "it takes no options" : "it takes \(supported.sorted().joined(separator: ", "))"
                    problem("\(field).\(key)", "unsupported_option", "is not an option of this provider; \(known)")
                    continue
                }
                if let value = singleLine(rawValue, field: "\(field).\(key)", maxLength: 1024) {
                    options[provider, default: [:]][key] = value
                }
            }
        }
        return options
    }

    /// `[A-Za-z0-9_.-]{1,64}`: metadata keys travel as provider tags and header names.
    static func isMetadataKey(_ key: String) -> Bool {
        (1...64).contains(key.utf8.count)
            && key.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
            }
    }

    private mutating func metadata(_ value: Any?) -> [String: String] {
        let map = stringMap(value, field: "metadata")
        if map.count > SendEmailRequest.maxMetadataEntries {
            problem("metadata", "too_many", "may hold at most \(SendEmailRequest.maxMetadataEntries) entries")
        }
        var metadata: [String: String] = [:]
        for (key, rawValue) in map.sorted(by: { $0.key < $1.key }) {
            if !Self.isMetadataKey(key) {
                problem("metadata.\(key)", "invalid_key", "keys are 1 to 64 of the characters A-Z, a-z, 0-9, _, . and -")
            }
            if let value = singleLine(rawValue, field: "metadata.\(key)", maxLength: 512) { metadata[key] = value }
        }
        return metadata
    }
}
