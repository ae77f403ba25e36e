import Foundation
import HeraldCore
import HeraldProviders
import HeraldTesting
import Testing

/// Over thirty messages built by Herald and read back by Python's `email` package (policy=default),
/// the parser most mail tooling shares: every header, body and attachment must come back as
/// it was given.
@Suite("MIME round trip")
struct MIMECorpusTests {
    static let scripts = [
        "Zoë Ångström", "Ελληνικά γράμματα", "Кириллица и пробелы", "日本語の件名です", "العربية من اليمين",
        "हिन्दी पाठ", "Emoji 🎉📬 party", "Ąčęėįšųūž lietuvių", "Mixed ASCII and 中文 text", "Łódź – „cytat”",
    ]

    static var corpus: [(name: String, message: EmailMessage)] {
        let ada = EmailAddress(displayName: "Ada Lovelace", address: "ada@example.org")
        let bob = EmailAddress(address: "bob@example.com")
        var corpus: [(String, EmailMessage)] = []
        for (index, text) in scripts.enumerated() {
            corpus.append(
                (
                    "display names and subject in script \(index)",
                    EmailMessage(
                        from: EmailAddress(displayName: text, address: "sender\(index)@example.org"),
                        to: [EmailAddress(displayName: text, address: "rcpt@example.com"), bob],
                        subject: "\(text) — \(text)", text: "\(text)\nline two\n"
                    )
                )
            )
        }
        let long = String(repeating: "A fairly long sentence that keeps going. ", count: 40)
        let png = Data((0..<700).map { UInt8(($0 * 37) % 256) })
        corpus += [
            ("an empty subject", EmailMessage(from: ada, to: [bob], subject: "", text: "No subject here.")),
            ("html only", EmailMessage(from: ada, to: [bob], subject: "HTML", html: "<p>Only <b>HTML</b></p>")),
            ("text only without a final newline", EmailMessage(from: ada, to: [bob], subject: "Text", text: "No newline at the end")),
            (
                "a line of 2,000 characters",
                EmailMessage(from: ada, to: [bob], subject: "Long line", text: String(repeating: "x", count: 2000))
            ),
            ("long lines of prose", EmailMessage(from: ada, to: [bob], subject: "Prose", text: long + "\n" + long)),
            ("a long ASCII subject that must fold", EmailMessage(from: ada, to: [bob], subject: long, text: "x")),
            ("a long non-ASCII subject", EmailMessage(from: ada, to: [bob], subject: String(repeating: "Ünïcødé ", count: 30), text: "x")),
            (
                "a 998-character subject in Cyrillic without a space",
                EmailMessage(from: ada, to: [bob], subject: String(repeating: "Ж", count: 998), text: "x")
            ),
            (
                "a 998-character ASCII subject without a space",
                EmailMessage(from: ada, to: [bob], subject: String(repeating: "s", count: 998), text: "x")
            ),
            (
                "2,000-character display names, one word and many",
                EmailMessage(
                    from: EmailAddress(displayName: String(repeating: "A", count: 2000), address: "ada@example.org"),
                    to: [EmailAddress(displayName: String(repeating: "Ада, ", count: 400), address: "bob@example.com")],
                    subject: "Long names", text: "x")
            ),
            ("text that looks like an encoded word", EmailMessage(from: ada, to: [bob], subject: "=?utf-8?q?not_encoded?=", text: "x")),
            (
                "dots, trailing spaces, tabs and equals signs",
                EmailMessage(
                    from: ada, to: [bob], subject: "Dots",
                    text: ".\n..leading dots\ntrailing space \ntab\there\n= sign =3D\nFrom the start\n")
            ),
            ("CRLF line ends in the body", EmailMessage(from: ada, to: [bob], subject: "CRLF", text: "one\r\ntwo\r\n")),
            ("text and html", EmailMessage(from: ada, to: [bob], subject: "Both", text: "Plain ✓", html: "<p>Rich ✓</p>")),
            (
                "several attachments",
                EmailMessage(
                    from: ada, to: [bob], subject: "Files", text: "See attached.",
                    attachments: [
                        Attachment(
                            filename: "report.pdf", contentType: "application/pdf", content: Data((0..<5000).map { UInt8($0 % 256) })),
                        Attachment(filename: "notes.txt", contentType: "text/plain", content: Data("plain notes\n".utf8)),
                        Attachment(filename: "empty.bin", contentType: "application/octet-stream", content: Data()),
                    ]
                )
            ),
            (
                "an inline image with a Content-ID",
                EmailMessage(
                    from: ada, to: [bob], subject: "Inline", text: "Logo below", html: #"<img src="cid:logo@herald">"#,
                    attachments: [Attachment(filename: "logo.png", contentType: "image/png", content: png, contentID: "logo@herald")]
                )
            ),
            (
                "non-ASCII attachment names",
                EmailMessage(
                    from: ada, to: [bob], subject: "Names", text: "x",
                    attachments: [
                        Attachment(filename: "Übersicht 2026.pdf", contentType: "application/pdf", content: Data("pdf".utf8)),
                        Attachment(filename: "報告書.txt", contentType: "text/plain", content: Data("報告".utf8)),
                    ]
                )
            ),
            (
                "display names that need quoting",
                EmailMessage(
                    from: EmailAddress(displayName: "Lovelace, Ada (Countess)", address: "ada@example.org"),
                    to: [EmailAddress(displayName: #"Say "hi" \ there"#, address: "q@example.com")],
                    replyTo: [EmailAddress(displayName: "Replies: here", address: "replies@example.org")],
                    subject: "Quoting", text: "x"
                )
            ),
            (
                "internationalized domains",
                EmailMessage(
                    from: EmailAddress(displayName: "Bücher", address: "info@bücher.de"),
                    to: [EmailAddress(address: "user@例子.测试"), EmailAddress(address: "x@münchen.example")],
                    subject: "IDN", text: "x"
                )
            ),
            (
                "cc, bcc and reply-to",
                EmailMessage(
                    from: ada, to: [bob], cc: [EmailAddress(displayName: "Carol", address: "carol@example.com")],
                    bcc: [EmailAddress(address: "hidden@example.com")], replyTo: [ada, bob], subject: "Copies", text: "x"
                )
            ),
            (
                "custom headers with non-ASCII values",
                EmailMessage(
                    from: ada, to: [bob], subject: "Headers", text: "x",
                    headers: ["X-Campaign": "Frühling 2026", "X-Priority": "1", "List-Unsubscribe": "<https://example.org/u/1>"]
                )
            ),
            (
                "everything at once",
                EmailMessage(
                    from: EmailAddress(displayName: "Zoë", address: "zoe@bücher.de"), to: [bob], cc: [ada], bcc: [ada],
                    replyTo: [ada], subject: "Alles 🎉 " + long, text: long + "\nÜmlaut", html: "<p>\(long)</p>",
                    headers: ["X-Tag": "ä"],
                    attachments: [
                        Attachment(filename: "a.bin", contentType: "application/octet-stream", content: png),
                        Attachment(filename: "i.png", contentType: "image/png", content: png, contentID: "i@x"),
                    ]
                )
            ),
            ("a body that is only line breaks", EmailMessage(from: ada, to: [bob], subject: "Breaks", text: "\n\n\n")),
            ("a bare carriage return", EmailMessage(from: ada, to: [bob], subject: "CR", text: "before\rafter\n")),
        ]
        return corpus
    }

    @Test func `the corpus holds at least thirty messages`() {
        #expect(Self.corpus.count >= 30)
    }

    @Test func `Python's email package reads back every header, body and attachment`() async throws {
        try await withTemporaryDirectory { directory in
            var cases: [[String: Any]] = []
            for (index, entry) in Self.corpus.enumerated() {
                let id = EmailID()
                let file = directory.appendingPathComponent("\(index).eml")
                try Data(MIMEMessage.render(entry.message, emailID: id, date: Date())).write(to: file)
                cases.append(Self.expectation(name: entry.name, message: entry.message, id: id, file: file))
            }
            let casesFile = directory.appendingPathComponent("cases.json")
            try JSONSerialization.data(withJSONObject: cases).write(to: casesFile)
            let problems = try Python.json(Self.checker, arguments: [casesFile.path])
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    static func expectation(name: String, message: EmailMessage, id: EmailID, file: URL) -> [String: Any] {
        func addresses(_ list: [EmailAddress]) -> [[String: String]] {
            list.map { ["name": $0.displayName ?? "", "address": $0.address] }
        }
        return [
            "name": name, "file": file.path, "id": id.rawValue, "subject": message.subject,
            "from": addresses([message.from]), "to": addresses(message.to), "cc": addresses(message.cc),
            "reply_to": addresses(message.replyTo), "headers": message.headers,
            "text": message.text.map { $0.replacingOccurrences(of: "\r\n", with: "\n") } as Any,
            "html": message.html as Any,
            "attachments": message.attachments.map {
                [
                    "filename": $0.filename, "content_type": $0.contentType, "content": $0.content.base64EncodedString(),
                    "content_id": $0.contentID ?? "",
                ]
            },
        ]
    }

    /// Reads each message and lists, by case name, whatever differs from what was given.
    /// Domains are expected in their IDNA form, computed by Python's own `idna` codec.
    static let checker = """
        import base64, email, json, re, sys
        from email import policy
        from email.header import decode_header, make_header
        from email.utils import getaddresses
        problems = {}
        def idna(address):
            local, _, domain = address.rpartition('@')
            return local + '@' + (domain.encode('idna').decode() if any(ord(c) > 127 for c in domain) else domain)
        for case in json.load(open(sys.argv[1])):
            raw = open(case['file'], 'rb').read()
            message = email.message_from_bytes(raw, policy=policy.default)
            found = []
            def check(what, got, want):
                if got != want:
                    found.append(f'{what}: got {got!r}, want {want!r}')
            raw_headers = {key.lower(): value for key, value in message.raw_items()}
            def addresses(name):
                header = message[name]
                if header is None:
                    return []
                parsed = [{'name': a.display_name, 'address': a.addr_spec} for a in header.addresses]
                # Python's phrase parser keeps the space between adjacent encoded words, which
                # RFC 2047 section 6.2 says a reader drops; decode_header drops it, so names in
                # encoded words are read from the raw header with it.
                pairs = getaddresses([re.sub(r'\\r?\\n[ \\t]', ' ', raw_headers[name.lower()])])
                if len(pairs) == len(parsed):
                    for entry, (raw_name, _) in zip(parsed, pairs):
                        if '=?' in raw_name:
                            entry['name'] = str(make_header(decode_header(raw_name)))
                return parsed
            def expected(entries):
                return [{'name': e['name'], 'address': idna(e['address'])} for e in entries]
            def content(part):
                return None if part is None else part.get_content().replace('\\r\\n', '\\n')
            check('subject', str(message['Subject'] or ''), case['subject'])
            check('from', addresses('From'), expected(case['from']))
            check('to', addresses('To'), expected(case['to']))
            check('cc', addresses('Cc'), expected(case['cc']))
            check('reply-to', addresses('Reply-To'), expected(case['reply_to']))
            check('bcc', message['Bcc'], None)
            check('message-id', str(message['Message-ID']), '<' + case['id'].lower() + '@' + idna(case['from'][0]['address']).split('@')[1] + '>')
            check('x-herald-id', str(message['X-Herald-Id']), case['id'])
            check('date', message['Date'].datetime is not None, True)
            for name, value in case['headers'].items():
                check(name, str(message[name]), value)
            check('text', content(message.get_body(('plain',))), case['text'])
            check('html', content(message.get_body(('html',))), case['html'])
            attachments = [{'filename': p.get_filename(), 'content_type': p.get_content_type(),
                            'content': base64.b64encode(p.get_payload(decode=True)).decode(),
                            'content_id': (p['Content-ID'] or '').strip('<>')}
                           for p in message.walk() if p.get_filename() is not None]
            check('attachments', attachments, case['attachments'])
            longest = max(len(line) for line in raw.split(b'\\r\\n'))
            check('longest line within 998', longest <= 998, True)
            check('bare line feeds', b'\\n' in raw.replace(b'\\r\\n', b''), False)
            if found:
                problems[case['name']] = found
        print(json.dumps(problems))
        """
}
