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

    /// The whole message with CRLF line ends, as the bytes that go on the wire.
    ///
    /// Written into one byte array: the bodies are most of every message, and this runs once
    /// per attempt, so they are copied once rather than through a chain of strings.
    public static func render(_ message: EmailMessage, emailID: EmailID, date: Date) -> [UInt8] {
        var headers: [(String, String)] = [
            ("From", addressList([message.from])),
            ("To", addressList(message.to)),
        ]
        if !message.cc.isEmpty { headers.append(("Cc", addressList(message.cc))) }
        if !message.replyTo.isEmpty { headers.append(("Reply-To", addressList(message.replyTo))) }
        headers.append(("Subject", unstructured(message.subject)))
        headers.append(("Date", UTCTime(date).rfc5322))
        headers.append(("Message-ID", messageID(for: emailID, from: message.from)))
        headers.append(("X-Herald-Id", emailID.rawValue))
        for (name, value) in message.headers.sorted(by: { $0.key < $1.key }) {
            // Custom headers may be structured (List-Unsubscribe): plain ASCII stays as given,
            // and the API keeps each word short enough to fold within 998 octets.
            headers.append((name, value.isASCII && !looksEncoded(value) ? value : encodedWords(value)))
        }
        headers.append(("MIME-Version", "1.0"))

        var output: [UInt8] = []
        output.reserveCapacity(
            1024 + (message.text?.utf8.count ?? 0) + (message.html?.utf8.count ?? 0)
                + message.attachments.reduce(0) { $0 + $1.content.count * 140 / 100 })
        for (name, value) in headers {
            output.append(line: fold("\(name): \(value)"))
        }
        appendBody(of: message, boundarySeed: emailID.rawValue.lowercased(), to: &output)
        return output
    }

    private static func appendBody(of message: EmailMessage, boundarySeed: String, to output: inout [UInt8]) {
        var textParts: [Part] = []
        if let text = message.text { textParts.append(.text(text, subtype: "plain")) }
        if let html = message.html { textParts.append(.text(html, subtype: "html")) }
        let content: Part = textParts.count == 1 ? textParts[0] : .multipart("alternative", textParts)
        guard !message.attachments.isEmpty else {
            content.render(boundarySeed: boundarySeed, depth: 0, to: &output)
            return
        }
        Part.multipart("mixed", [content] + message.attachments.map(Part.attachment))
            .render(boundarySeed: boundarySeed, depth: 0, to: &output)
        output.append(contentsOf: crlf)
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    /// A body part renders without a line break of its own at the end: the CRLF before a
    /// boundary belongs to the boundary (RFC 2046 §5.1.1), so text comes back exactly as given.
    /// A single-part message ends where its text ends; SMTP adds the final CRLF if it is missing.
    private indirect enum Part {
        case text(String, subtype: String)
        case attachment(Attachment)
        case multipart(String, [Part])

        /// Headers of the part, a blank line, and its body.
        func render(boundarySeed: String, depth: Int, to output: inout [UInt8]) {
            switch self {
            case .text(var text, let subtype):
                text.withUTF8 { bytes in
                    output.append(line: "Content-Type: text/\(subtype); charset=utf-8")
                    // Written as 7bit in the same pass that checks that it can be, and written
                    // again as quoted-printable in the rare case it cannot.
                    let encodingHeader = output.count
                    output.append(line: "Content-Transfer-Encoding: 7bit")
                    output.append(contentsOf: MIMEMessage.crlf)
                    guard !MIMEMessage.appendLines(of: bytes, quotedPrintable: false, to: &output) else { return }
                    output.removeSubrange(encodingHeader...)
                    output.append(line: "Content-Transfer-Encoding: quoted-printable")
                    output.append(contentsOf: MIMEMessage.crlf)
                    MIMEMessage.appendLines(of: bytes, quotedPrintable: true, to: &output)
                }
            case .attachment(let attachment):
                output.append(line: "Content-Type: \(attachment.contentType)")
                output.append(line: "Content-Transfer-Encoding: base64")
                let disposition = attachment.contentID == nil ? "attachment" : "inline"
                output.append(
                    line: MIMEMessage.fold("Content-Disposition: \(disposition); \(MIMEMessage.filenameParameter(attachment.filename))"))
                if let contentID = attachment.contentID { output.append(line: "Content-ID: <\(contentID)>") }
                output.append(contentsOf: MIMEMessage.crlf)
                output.append(contentsOf: MIMEMessage.base64Lines(attachment.content).utf8)
            case .multipart(let subtype, let parts):
                let boundary = "herald-\(depth)-\(boundarySeed)"
                output.append(line: "Content-Type: multipart/\(subtype); boundary=\"\(boundary)\"")
                output.append(contentsOf: MIMEMessage.crlf)
                for part in parts {
                    output.append(line: "--\(boundary)")
                    part.render(boundarySeed: boundarySeed, depth: depth + 1, to: &output)
                    output.append(contentsOf: MIMEMessage.crlf)
                }
                output.append(contentsOf: "--\(boundary)--".utf8)
            }
        }
    }

    /// Mailboxes for a header: non-ASCII display names as encoded words, domains in their
    /// ASCII (IDNA) form. A non-ASCII local part stays UTF-8 and needs SMTPUTF8 on the way.
    static func addressList(_ addresses: [EmailAddress]) -> String {
        addresses.map { address in
            let mailbox = IDNA.asciiDomain(ofAddress: address.address)
            guard let name = address.displayName, !name.isEmpty else { return mailbox }
            if name.isASCII && !looksEncoded(name) && !hasWordTooLongToFold(name) {
                return "\(EmailAddress.phrase(name)) <\(mailbox)>"
            }
            return "\(encodedWords(name)) <\(mailbox)>"
        }.joined(separator: ", ")
    }

    /// Text for an unstructured header (Subject): as it is when it is plain ASCII whose words
    /// all fold within a line, else encoded words. ASCII that looks like an encoded word must be
    /// encoded too, or readers would decode it; a word too long to fold (a 998-character
    /// subject without a space) is split into encoded words, so no line passes 998 octets.
    static func unstructured(_ text: String) -> String {
        text.isASCII && !looksEncoded(text) && !hasWordTooLongToFold(text) ? text : encodedWords(text)
    }

    /// Whether a run of `text` without spaces is longer than a folded line can hold.
    private static func hasWordTooLongToFold(_ text: String) -> Bool {
        var run = 0
        for byte in text.utf8 {
            run = byte == UInt8(ascii: " ") ? 0 : run + 1
            if run > 66 { return true }
        }
        return false
    }

    /// RFC 2047 `B` encoded words, each at most 75 characters and never splitting a character.
    static func encodedWords(_ text: String) -> String {
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

    /// Whether `text` has `=?`, which starts an encoded word; read by bytes, since Foundation's
    /// substring search cost more than the rest of a header.
    private static func looksEncoded(_ text: String) -> Bool {
        zip(text.utf8, text.utf8.dropFirst()).contains { $0 == UInt8(ascii: "=") && $1 == UInt8(ascii: "?") }
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

    /// Whether every byte is below 0x80; one pass with no early exit, which the compiler
    /// vectorizes.
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var combined: UInt8 = 0
        for byte in bytes { combined |= byte }
        return combined < 0x80
    }

    /// Appends the lines of `bytes`, each followed by CRLF but the last (which is empty when the
    /// text ends with a line break): quoted-printable, or as they are (7bit). As they are, the
    /// text must be ASCII with no CR but in CR LF and no line over 998 octets (RFC 5322
    /// §2.1.1); the first that is not stops it, and it returns false with part of the text
    /// appended.
    ///
    /// Works on UTF-8 bytes, not characters: bodies are the bulk of every message. The 7bit
    /// checks run in the pass that copies the lines, so that a plain body is read once.
    @discardableResult
    static func appendLines(of bytes: UnsafeBufferPointer<UInt8>, quotedPrintable: Bool, to output: inout [UInt8]) -> Bool {
        guard quotedPrintable || isASCII(bytes) else { return false }
        // Only a text with a CR in it has lines to search for one that does not end them.
        let hasCarriageReturn = !quotedPrintable && (bytes.baseAddress.map { memchr($0, 0x0D, bytes.count) != nil } ?? false)
        var fits = true
        var first = true
        forEachLine(of: bytes) { line in
            guard fits else { return }
            if !quotedPrintable,
                line.count > 998 || (hasCarriageReturn && line.baseAddress.map { memchr($0, 0x0D, line.count) != nil } ?? false)
            {
                fits = false
                return
            }
            if !first {
                output.append(0x0D)
                output.append(0x0A)
            }
            first = false
            if quotedPrintable {
                appendQuotedPrintable(line, to: &output)
            } else {
                output.append(contentsOf: line)
            }
        }
        return fits
    }

    /// Calls `body` with each line of `bytes` without its LF or CR LF; a CR before anything but
    /// LF stays in the line.
    private static func forEachLine(of bytes: UnsafeBufferPointer<UInt8>, _ body: (_ line: UnsafeBufferPointer<UInt8>) -> Void) {
        guard let base = bytes.baseAddress else {
            body(bytes)
            return
        }
        var start = 0
        while true {
            guard let found = memchr(base + start, 0x0A, bytes.count - start) else {
                body(UnsafeBufferPointer(rebasing: bytes[start...]))
                return
            }
            let lineFeed = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            let end = lineFeed > start && bytes[lineFeed - 1] == 0x0D ? lineFeed - 1 : lineFeed
            body(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            start = lineFeed + 1
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// One line in quoted-printable (RFC 2045 §6.7), soft-wrapped at 76 characters. A CR
    /// inside a line is encoded, so only CR LF breaks lines on the way.
    static func appendQuotedPrintable(_ line: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
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

extension StringProtocol {
    /// Whether the text is ASCII, read from its UTF-8 bytes rather than its characters.
    var isASCII: Bool { utf8.allSatisfy { $0 < 0x80 } }
}

extension [UInt8] {
    /// A header line and its CRLF.
    fileprivate mutating func append(line: String) {
        append(contentsOf: line.utf8)
        append(contentsOf: [0x0D, 0x0A])
    }
}
