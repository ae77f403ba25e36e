import Foundation
import HeraldCore

/// Builds the RFC 5322 / MIME form of an email, for providers that take raw messages.
///
/// The Message-ID is `<email id@sender domain>`, the same on every attempt and provider, so
/// that receivers can discard duplicates that at-least-once delivery may produce.
public enum MIMEMessage {
    public static func messageID(for emailID: EmailID, from sender: EmailAddress) -> String {
        "<\(emailID.rawValue.lowercased())@\(IDNA.ascii(sender.domain))>"
    }

    /// The whole message with CRLF line ends.
    public static func render(_ message: EmailMessage, emailID: EmailID, date: Date) -> String {
        var headers: [(String, String)] = [
            ("From", addressList([message.from])),
            ("To", addressList(message.to)),
        ]
        if !message.cc.isEmpty { headers.append(("Cc", addressList(message.cc))) }
        if !message.replyTo.isEmpty { headers.append(("Reply-To", addressList(message.replyTo))) }
        headers.append(("Subject", encodedWords(message.subject)))
        headers.append(("Date", UTCTime(date).rfc5322))
        headers.append(("Message-ID", messageID(for: emailID, from: message.from)))
        headers.append(("X-Herald-Id", emailID.rawValue))
        for (name, value) in message.headers.sorted(by: { $0.key < $1.key }) {
            headers.append((name, encodedWords(value)))
        }
        headers.append(("MIME-Version", "1.0"))

        var output = ""
        for (name, value) in headers {
            output += fold("\(name): \(value)") + "\r\n"
        }
        output += body(of: message, boundarySeed: emailID.rawValue.lowercased())
        return output
    }

    private static func body(of message: EmailMessage, boundarySeed: String) -> String {
        var textParts: [Part] = []
        if let text = message.text { textParts.append(.text(text, subtype: "plain")) }
        if let html = message.html { textParts.append(.text(html, subtype: "html")) }
        let content: Part = textParts.count == 1 ? textParts[0] : .multipart("alternative", textParts)
        guard !message.attachments.isEmpty else {
            return content.render(boundarySeed: boundarySeed, depth: 0)
        }
        return Part.multipart("mixed", [content] + message.attachments.map(Part.attachment))
            .render(boundarySeed: boundarySeed, depth: 0) + "\r\n"
    }

    /// A body part renders without a line break of its own at the end: the CRLF before a
    /// boundary belongs to the boundary (RFC 2046 §5.1.1), so text comes back exactly as given.
    /// A single-part message ends where its text ends; SMTP adds the final CRLF if it is missing.
    private indirect enum Part {
        case text(String, subtype: String)
        case attachment(Attachment)
        case multipart(String, [Part])

        /// Headers of the part, a blank line, and its body.
        func render(boundarySeed: String, depth: Int) -> String {
            switch self {
            case .text(let text, let subtype):
                let (encoding, body) = MIMEMessage.transferEncode(text)
                return "Content-Type: text/\(subtype); charset=utf-8\r\nContent-Transfer-Encoding: \(encoding)\r\n\r\n\(body)"
            case .attachment(let attachment):
                var headers = "Content-Type: \(attachment.contentType)\r\nContent-Transfer-Encoding: base64\r\n"
                let disposition = attachment.contentID == nil ? "attachment" : "inline"
                headers +=
                    MIMEMessage.fold("Content-Disposition: \(disposition); \(MIMEMessage.filenameParameter(attachment.filename))") + "\r\n"
                if let contentID = attachment.contentID { headers += "Content-ID: <\(contentID)>\r\n" }
                return headers + "\r\n" + MIMEMessage.base64Lines(attachment.content)
            case .multipart(let subtype, let parts):
                let boundary = "herald-\(depth)-\(boundarySeed)"
                var output = "Content-Type: multipart/\(subtype); boundary=\"\(boundary)\"\r\n\r\n"
                for part in parts {
                    output += "--\(boundary)\r\n" + part.render(boundarySeed: boundarySeed, depth: depth + 1) + "\r\n"
                }
                return output + "--\(boundary)--"
            }
        }
    }

    /// Mailboxes for a header: non-ASCII display names as encoded words, domains in their
    /// ASCII (IDNA) form. A non-ASCII local part stays UTF-8 and needs SMTPUTF8 on the way.
    static func addressList(_ addresses: [EmailAddress]) -> String {
        addresses.map { address in
            let mailbox = IDNA.asciiDomain(ofAddress: address.address)
            guard let name = address.displayName, !name.isEmpty else { return mailbox }
            if name.allSatisfy(\.isASCII) && !name.contains("=?") {
                return "\(EmailAddress.phrase(name)) <\(mailbox)>"
            }
            return "\(encodedWords(name)) <\(mailbox)>"
        }.joined(separator: ", ")
    }

    /// RFC 2047 `B` encoded words for text that is not plain ASCII, each at most 75 characters
    /// and never splitting a character.
    static func encodedWords(_ text: String) -> String {
        // ASCII that looks like an encoded word must be encoded too, or readers would decode it.
        guard !text.allSatisfy({ $0.isASCII }) || text.contains("=?") else { return text }
        let maxBytesPerWord = 45  // 45 bytes of UTF-8 become 60 of base64, inside 75.
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > maxBytesPerWord, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk.removeAll()
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: " ")
    }

    /// Folds a header line at spaces so that no line passes 78 characters where it can help it.
    /// The first line keeps the field name and at least one word of the value.
    static func fold(_ line: String) -> String {
        guard line.utf8.count > 78 else { return line }
        var output = ""
        var current = ""
        var wordsOnLine = 0
        var minimumWords = 2
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if wordsOnLine >= minimumWords, current.utf8.count + 1 + word.utf8.count > 78 {
                output += current + "\r\n"
                current = " " + word
                wordsOnLine = 1
                minimumWords = 1
            } else {
                current += wordsOnLine == 0 ? String(word) : " " + word
                wordsOnLine += 1
            }
        }
        return output + current
    }

    static func filenameParameter(_ filename: String) -> String {
        if filename.allSatisfy({ $0.isASCII && $0 != "\"" && $0 != "\\" }) {
            return "filename=\"\(filename)\""
        }
        let allowed = CharacterSet.alphanumerics.intersection(.init(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
            .union(.init(charactersIn: "!#$&+-.^_`|~"))
        return "filename*=utf-8''" + (filename.addingPercentEncoding(withAllowedCharacters: allowed) ?? "attachment")
    }

    static func base64Lines(_ data: Data) -> String {
        data.base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
    }

    /// 7bit for short-lined ASCII, quoted-printable otherwise. Works on UTF-8 bytes, not
    /// characters: bodies are the bulk of every message and this runs once per attempt.
    static func transferEncode(_ text: String) -> (encoding: String, body: String) {
        let bytes = Array(text.utf8)
        // Lines end at LF or CRLF; a CR elsewhere cannot go out as 7bit.
        var lines: [Range<Int>] = []
        var start = 0
        var needsEncoding = false
        var longest = 0
        for index in bytes.indices {
            switch bytes[index] {
            case 0x0A:
                let end = index > start && bytes[index - 1] == 0x0D ? index - 1 : index
                lines.append(start..<end)
                longest = max(longest, end - start)
                start = index + 1
            case 0x0D where index + 1 == bytes.count || bytes[index + 1] != 0x0A, 0x80...:
                needsEncoding = true
            default:
                break
            }
        }
        lines.append(start..<bytes.count)
        longest = max(longest, bytes.count - start)

        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 8 + lines.count * 2)
        let sevenBit = !needsEncoding && longest <= 998
        for (number, line) in lines.enumerated() {
            if number > 0 { output += [0x0D, 0x0A] }
            if sevenBit {
                output += bytes[line]
            } else {
                appendQuotedPrintable(bytes[line], to: &output)
            }
        }
        return (sevenBit ? "7bit" : "quoted-printable", String(decoding: output, as: UTF8.self))
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// One line in quoted-printable (RFC 2045 §6.7), soft-wrapped at 76 characters.
    static func appendQuotedPrintable(_ line: ArraySlice<UInt8>, to output: inout [UInt8]) {
        var lineLength = 0
        for index in line.indices {
            let byte = line[index]
            let isLast = index == line.endIndex - 1
            let literal = (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !isLast)
            let width = literal ? 1 : 3
            if lineLength + width > 75 {
                output += [0x3D, 0x0D, 0x0A]
                lineLength = 0
            }
            if literal {
                output.append(byte)
            } else {
                output += [0x3D, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
            lineLength += width
        }
    }
}
