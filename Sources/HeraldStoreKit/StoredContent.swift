import HeraldCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An email's content as the stores keep it: the text and HTML bodies apart, every other field
/// in a compact binary form.
///
/// The bodies are most of an email's bytes and full of line breaks, which JSON escapes; every
/// delivery round decodes the content again. The other fields were JSON too, and decoding them
/// with `JSONDecoder` was still the largest cost of leasing an email: the binary form reads them
/// in one pass, without checking again the addresses that were checked on the way in. Rows
/// written as JSON (which starts with `{`) are read as before.
public struct StoredContent: Sendable {
    /// Every field but the bodies: ``BinaryFields`` with its format byte first, or JSON.
    public var fields: Data
    public var text: String?
    public var html: String?

    public init(_ message: EmailMessage) {
        var rest = message
        (rest.text, rest.html) = (nil, nil)
        (fields, text, html) = (BinaryFields.encode(rest), message.text, message.html)
    }

    public init(fields: Data, text: String?, html: String?) {
        (self.fields, self.text, self.html) = (fields, text, html)
    }

    public func message() throws -> EmailMessage {
        var message =
            fields.first == BinaryFields.format
            ? try BinaryFields.decode(fields) : try JSONDecoder().decode(EmailMessage.self, from: fields)
        // Rows written before the bodies had columns keep them in the JSON.
        if let text { message.text = text }
        if let html { message.html = html }
        return message
    }
}

/// The binary form of an ``EmailMessage``'s fields: a format byte, then each field in a fixed
/// order. A count or length is an unsigned LEB128 number; a string is its UTF-8 length and
/// bytes; an optional value is a byte (0 for none, 1 for some) and the value; a dictionary is
/// its count and its pairs in key order, so that one message always encodes the same way.
enum BinaryFields {
    /// The first byte of this form; JSON starts with `{` instead.
    static let format: UInt8 = 0x01

    static func encode(_ message: EmailMessage) -> Data {
        var writer = Writer()
        writer.bytes.append(format)
        writer.write(message.from)
        for list in [message.to, message.cc, message.bcc, message.replyTo] { writer.write(list) { $0.write($1) } }
        writer.write(message.subject)
        writer.write(message.headers)
        writer.write(message.attachments) { writer, attachment in
            writer.write(attachment.filename)
            writer.write(attachment.contentType)
            writer.write(bytes: attachment.content)
            writer.write(optional: attachment.contentID)
        }
        writer.write(message.tags) { $0.write($1) }
        writer.write(message.metadata)
        writer.write(message.providerOptions.sorted { $0.key < $1.key }) { writer, option in
            writer.write(option.key)
            writer.write(option.value)
        }
        return Data(writer.bytes)
    }

    static func decode(_ data: Data) throws -> EmailMessage {
        try data.withUnsafeBytes { bytes in
            var reader = Reader(buffer: bytes, offset: 1)
            let from = try reader.address()
            let to = try reader.list { try $0.address() }
            let cc = try reader.list { try $0.address() }
            let bcc = try reader.list { try $0.address() }
            let replyTo = try reader.list { try $0.address() }
            let subject = try reader.string()
            let headers = try reader.dictionary()
            let attachments = try reader.list { reader in
                Attachment(
                    filename: try reader.string(), contentType: try reader.string(), content: Data(try reader.bytes()),
                    contentID: try reader.optionalString())
            }
            let tags = try reader.list { try $0.string() }
            let metadata = try reader.dictionary()
            let options = try reader.list { reader in (try reader.string(), try reader.dictionary()) }
            guard reader.isAtEnd else { throw StoreError(.corrupt, "a stored message has bytes after its last field") }
            return EmailMessage(
                from: from, to: to, cc: cc, bcc: bcc, replyTo: replyTo, subject: subject, headers: headers,
                attachments: attachments, tags: tags, metadata: metadata,
                providerOptions: Dictionary(options, uniquingKeysWith: { $1 }))
        }
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func write(count: Int) {
            var value = UInt(count)
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        mutating func write(bytes data: some Collection<UInt8>) {
            write(count: data.count)
            bytes.append(contentsOf: data)
        }

        mutating func write(_ string: String) {
            write(bytes: string.utf8)
        }

        mutating func write(optional string: String?) {
            guard let string else { return bytes.append(0) }
            bytes.append(1)
            write(string)
        }

        mutating func write(_ address: EmailAddress) {
            write(optional: address.displayName)
            write(address.address)
        }

        mutating func write(_ dictionary: [String: String]) {
            write(dictionary.sorted { $0.key < $1.key }) { writer, pair in
                writer.write(pair.key)
                writer.write(pair.value)
            }
        }

        mutating func write<Element>(_ elements: [Element], with writeElement: (inout Writer, Element) -> Void) {
            write(count: elements.count)
            for element in elements { writeElement(&self, element) }
        }
    }

    private struct Reader {
        let buffer: UnsafeRawBufferPointer
        var offset: Int

        var isAtEnd: Bool { offset == buffer.count }

        mutating func count() throws -> Int {
            var value = 0
            var shift = 0
            while true {
                guard offset < buffer.count, shift < 63 else { throw Self.truncated }
                let byte = buffer[offset]
                offset += 1
                value |= Int(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }

        mutating func bytes() throws -> UnsafeRawBufferPointer {
            let length = try count()
            guard length <= buffer.count - offset else { throw Self.truncated }
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + length)])
        }

        mutating func string() throws -> String {
            String(decoding: try bytes(), as: UTF8.self)
        }

        mutating func optionalString() throws -> String? {
            guard offset < buffer.count else { throw Self.truncated }
            offset += 1
            switch buffer[offset - 1] {
            case 0: return nil
            case 1: return try string()
            default: throw StoreError(.corrupt, "a stored message has an optional field that is neither absent nor present")
            }
        }

        /// Addresses were checked when the email was accepted; they are read back as they were.
        mutating func address() throws -> EmailAddress {
            EmailAddress(displayName: try optionalString(), address: try string())
        }

        mutating func dictionary() throws -> [String: String] {
            Dictionary(try list { (try $0.string(), try $0.string()) }, uniquingKeysWith: { $1 })
        }

        mutating func list<Element>(_ readElement: (inout Reader) throws -> Element) throws -> [Element] {
            let count = try count()
            // Each element takes a byte at least: a larger count can only come from damage.
            guard count <= buffer.count - offset else { throw Self.truncated }
            var elements: [Element] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try readElement(&self)) }
            return elements
        }

        static let truncated = StoreError(.corrupt, "a stored message ends before its last field")
    }
}
