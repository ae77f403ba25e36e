import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

@Suite("File provider")
struct FileProviderTests {
    let message = EmailMessage(
        from: EmailAddress(displayName: "Zoë Ångström", address: "zoe@example.org"),
        to: [EmailAddress(displayName: "Lovelace, Ada", address: "ada@example.com"), EmailAddress(address: "bob@example.com")],
        cc: [EmailAddress(address: "carol@example.com")],
        bcc: [EmailAddress(address: "secret@example.com")],
        subject: "Grüße aus Köln – 東京からこんにちは, a subject long enough to need folding across lines",
        text: "Hallo!\nA line with = and trailing space \n" + String(repeating: "long ", count: 300),
        html: "<p>Hallo <b>Welt</b></p>",
        headers: ["X-Campaign": "spring"],
        attachments: [
            Attachment(filename: "report.pdf", contentType: "application/pdf", content: Data((0..<3000).map { UInt8($0 % 256) })),
            Attachment(filename: "naïve.txt", contentType: "text/plain", content: Data("ünïcödé".utf8)),
        ]
    )

    @Test func `writes one RFC 5322 file per attempt that Python's email package reads back`() async throws {
        try await withTemporaryDirectory { directory in
            let provider = try FileProvider(name: "files", directory: directory)
            let id = EmailID()
            let receipt = try await provider.send(Delivery(emailID: id, attempt: 3, message: message, acceptedAt: Date()))
            #expect(receipt.providerMessageID == "\(id).3.eml")
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(files == ["\(id).3.eml"], "only the finished file, no temporary ones")

            let parsed = try parseWithPython(directory.appendingPathComponent("\(id).3.eml"))
            #expect(parsed["subject"] as? String == message.subject)
            #expect(parsed["from"] as? String == "Zoë Ångström <zoe@example.org>")
            #expect(parsed["to"] as? String == "\"Lovelace, Ada\" <ada@example.com>, bob@example.com")
            #expect(parsed["cc"] as? String == "carol@example.com")
            #expect(parsed["bcc"] is NSNull, "Bcc must not appear in the message")
            #expect(parsed["message_id"] as? String == "<\(id.rawValue.lowercased())@example.org>")
            #expect(parsed["x_herald_id"] as? String == id.rawValue)
            #expect(parsed["x_campaign"] as? String == "spring")
            #expect(parsed["text"] as? String == message.text)
            #expect(parsed["html"] as? String == message.html)
            let attachments = try #require(parsed["attachments"] as? [[String: Any]])
            #expect(attachments.map { $0["filename"] as? String } == ["report.pdf", "naïve.txt"])
            #expect(attachments.map { $0["content_type"] as? String } == ["application/pdf", "text/plain"])
            #expect(attachments.map { $0["content"] as? String } == message.attachments.map { $0.content.base64EncodedString() })
            #expect((parsed["max_line_length"] as? Int ?? 999) <= 998)
        }
    }

    /// Parses with `email.message_from_bytes(policy=default)`, as mail clients' libraries do.
    private func parseWithPython(_ file: URL) throws -> [String: Any] {
        let script = """
            import base64, email, json, sys
            from email import policy
            raw = open(sys.argv[1], 'rb').read()
            message = email.message_from_bytes(raw, policy=policy.default)
            text = message.get_body(('plain',))
            html = message.get_body(('html',))
            # The message uses CRLF line ends, as on the wire; compare bodies with LF.
            def content(part): return part.get_content().replace('\\r\\n', '\\n') if part else None
            print(json.dumps({
                'subject': str(message['Subject']), 'from': str(message['From']), 'to': str(message['To']),
                'cc': str(message['Cc']), 'bcc': message['Bcc'], 'message_id': str(message['Message-ID']),
                'x_herald_id': str(message['X-Herald-Id']), 'x_campaign': str(message['X-Campaign']),
                'text': content(text), 'html': content(html),
                'attachments': [{'filename': part.get_filename(), 'content_type': part.get_content_type(),
                                 'content': base64.b64encode(part.get_payload(decode=True)).decode()}
                                for part in message.iter_attachments()],
                'max_line_length': max(len(line) for line in raw.split(b'\\r\\n')),
            }))
            """
        return try Python.json(script, arguments: [file.path])
    }
}
