import Foundation
import HeraldCore

/// The form of `POST /v3/{domain}/messages`, with the parameter names of Mailgun's API
/// reference (https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages).
enum MailgunMessage {
    /// Mailgun keeps at most 3 tags per message, ASCII, up to 128 characters each
    /// (https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/track-tagging).
    static let maxTags = 3
    static let maxTagLength = 128

    static func form(_ delivery: Delivery) -> MultipartFormData {
        let message = delivery.message
        var form = MultipartFormData()
        form.append("from", MIMEMessage.addressList([message.from]))
        // Each recipient its own value: `to`, `cc` and `bcc` may be repeated.
        for address in message.to { form.append("to", MIMEMessage.addressList([address])) }
        for address in message.cc { form.append("cc", MIMEMessage.addressList([address])) }
        for address in message.bcc { form.append("bcc", MIMEMessage.addressList([address])) }
        form.append("subject", message.subject)
        if let text = message.text { form.append("text", text) }
        if let html = message.html { form.append("html", html) }
        // Inline parts are referred to by their file name, so it is the content id.
        for attachment in message.attachments {
            if let contentID = attachment.contentID {
                form.appendFile("inline", filename: contentID, contentType: attachment.contentType, content: attachment.content)
            } else {
                form.appendFile(
                    "attachment", filename: attachment.filename, contentType: attachment.contentType, content: attachment.content)
            }
        }
        if !message.replyTo.isEmpty { form.append("h:Reply-To", MIMEMessage.addressList(message.replyTo)) }
        form.append("h:X-Herald-Id", delivery.emailID.rawValue)
        form.append("h:Message-Id", MIMEMessage.messageID(for: delivery.emailID, from: message.from))
        for (name, value) in message.headers.sorted(by: { $0.key < $1.key }) { form.append("h:\(name)", value) }
        // `v:` variables come back in webhooks and events as user-variables.
        form.append("v:herald_id", delivery.emailID.rawValue)
        for (key, value) in message.metadata.sorted(by: { $0.key < $1.key }) where key != "herald_id" { form.append("v:\(key)", value) }
        for tag in tags(message.tags) { form.append("o:tag", tag) }
        return form
    }

    static func tags(_ tags: [String]) -> [String] {
        var seen: Set<String> = []
        return Array(
            tags.filter { !$0.isEmpty && $0.count <= maxTagLength && $0.isASCII && seen.insert($0.lowercased()).inserted }
                .prefix(maxTags)
        )
    }
}

/// Mailgun's answer: `{"id": "<...>", "message": "Queued. Thank you."}`.
struct MailgunResponse: Decodable {
    let id: String?
    let message: String?
}
