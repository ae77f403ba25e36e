import Foundation
import HeraldCore
import HeraldTesting
import Testing

@testable import HeraldArchive

/// Archive files as Herald writes them, read back by Herald and by Python's gzip, json and
/// hashlib, the reference for what another tool would make of them.
@Suite("Archive files")
struct ArchiveFileTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    func email(_ index: Int, tenant: String = "acme") -> EmailDetail {
        let message = EmailMessage(
            from: EmailAddress(displayName: "Ada", address: "ada@example.org"), to: [EmailAddress(address: "bob\(index)@example.com")],
            bcc: [EmailAddress(address: "audit@example.org")], subject: "Invoice \(index)", text: "Dear Bob,\nline two",
            attachments: [Attachment(filename: "a.pdf", contentType: "application/pdf", content: Data([0, 1, 2, 255]))],
            tags: ["invoice"], metadata: ["n": "\(index)"])
        let at = Self.start.adding(.milliseconds(Int64(index)))
        return EmailDetail(
            id: EmailID(date: at), tenant: tenant, status: .sent, createdAt: at, updatedAt: at, nextAttemptAt: nil, provider: "relay",
            providerMessageID: "m\(index)", failureReason: nil, message: message,
            attempts: [Attempt(number: 1, provider: "relay", startedAt: at, latencyMilliseconds: 12, outcome: .sent)],
            events: [EmailEvent(kind: .queued, at: at), EmailEvent(kind: .sent, at: at, provider: "relay")],
            providerEvents: [
                RecordedProviderEvent(
                    event: ProviderEvent(
                        id: "e\(index)", provider: "relay", kind: .delivered, occurredAt: at, recipient: "bob\(index)@example.com",
                        payload: Array(#"{"event":"delivered"}"#.utf8)),
                    receivedAt: at)
            ])
    }

    func write(_ emails: [EmailDetail], in directory: URL, tenant: String = "acme") throws -> ArchiveManifest {
        let file = try ArchiveFileWriter(root: directory.path, tenant: tenant, day: "2027-01-15")
        for email in emails { try file.append(email) }
        return try file.finish(now: Self.start)
    }

    @Test func `writes JSON Lines in gzip that Python reads back, with the file's size and SHA-256 in its manifest`() async throws {
        try await withTemporaryDirectory { directory in
            let emails = (0..<3).map { email($0) }
            let manifest = try write(emails, in: directory)
            #expect(manifest.file == "2027-01-15.jsonl.gz")
            #expect(manifest.emails == 3)
            #expect(manifest.firstEmailID == emails[0].id.rawValue && manifest.lastEmailID == emails[2].id.rawValue)
            let file = directory.appendingPathComponent("acme/2027-01-15.jsonl.gz").path
            let python = try Command.run(
                "python3",
                [
                    "-c",
                    """
                    import gzip, hashlib, json, sys
                    path, manifest = sys.argv[1], json.load(open(sys.argv[2]))
                    data = open(path, 'rb').read()
                    assert hashlib.sha256(data).hexdigest() == manifest['sha256'], 'sha256'
                    assert len(data) == manifest['bytes'], 'bytes'
                    lines = gzip.decompress(data).decode().splitlines()
                    for line in lines:
                        email = json.loads(line)
                        print(email['id'], email['tenant'], email['message']['bcc'][0], email['message']['attachments'][0]['content'],
                              email['provider_events'][0]['kind'], email['events'][1]['type'], repr(email['message']['text']))
                    """,
                    file, directory.appendingPathComponent("acme/2027-01-15.manifest.json").path,
                ])
            #expect(python.status == 0, "\(python.errors)")
            let lines = python.output.split(separator: "\n").map(String.init)
            #expect(
                lines == emails.map { "\($0.id) acme audit@example.org AAEC/w== delivered sent 'Dear Bob,\\nline two'" })
            #expect(try ArchiveCheck.verify(file).ids == emails.map(\.id))
        }
    }

    @Test func `reads back every line as the email it was`() async throws {
        try await withTemporaryDirectory { directory in
            let emails = (0..<2).map { email($0) }
            _ = try write(emails, in: directory)
            var read: [ArchivedEmail] = []
            _ = try GzipFileReader.read(path: directory.appendingPathComponent("acme/2027-01-15.jsonl.gz").path) { line in
                read.append(try ArchivedEmail.decoder.decode(ArchivedEmail.self, from: Data(line)))
            }
            #expect(read == emails.map(ArchivedEmail.init))
        }
    }

    @Test func `a damaged file or manifest fails its check`() async throws {
        try await withTemporaryDirectory { directory in
            _ = try write((0..<50).map { email($0) }, in: directory)
            let file = directory.appendingPathComponent("acme/2027-01-15.jsonl.gz")
            let manifestFile = directory.appendingPathComponent("acme/2027-01-15.manifest.json")
            let original = try Data(contentsOf: file)
            let manifest = try Data(contentsOf: manifestFile)

            var flipped = original
            flipped[flipped.count / 2] ^= 0x01
            try flipped.write(to: file)
            #expect(throws: ArchiveError.self) { try ArchiveCheck.verify(file.path) }
            try original.prefix(original.count - 10).write(to: file)
            #expect(throws: ArchiveError.self) { try ArchiveCheck.verify(file.path) }
            try original.write(to: file)
            #expect(try ArchiveCheck.verify(file.path).ids.count == 50)

            let fewer = String(decoding: manifest, as: UTF8.self).replacingOccurrences(of: "\"emails\" : 50", with: "\"emails\" : 49")
            try Data(fewer.utf8).write(to: manifestFile)
            #expect(throws: ArchiveError.self) { try ArchiveCheck.verify(file.path) }
        }
    }

    @Test func `a day archived again takes the next name, and a tenant's name cannot leave the directory`() async throws {
        try await withTemporaryDirectory { directory in
            #expect(try write([email(0)], in: directory).file == "2027-01-15.jsonl.gz")
            #expect(try write([email(1)], in: directory).file == "2027-01-15.1.jsonl.gz")
            _ = try write([email(2, tenant: "../etc")], in: directory, tenant: "../etc")
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("%2E%2E%2Fetc/2027-01-15.jsonl.gz").path))
        }
    }

    @Test func `an unfinished file leaves nothing behind`() async throws {
        try await withTemporaryDirectory { directory in
            do {
                let file = try ArchiveFileWriter(root: directory.path, tenant: "acme", day: "2027-01-15")
                try file.append(email(0))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("acme").path).isEmpty)
        }
    }

    /// `cat a.gz b.gz` is one gzip stream to gunzip, and so to Herald.
    @Test func `reads several gzip members one after another as one stream`() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("two.gz").path
            let python = try Command.run(
                "python3",
                ["-c", "import gzip, sys; open(sys.argv[1], 'wb').write(gzip.compress(b'a\\nb\\n') + gzip.compress(b'c\\n'))", path])
            #expect(python.status == 0)
            var lines: [String] = []
            _ = try GzipFileReader.read(path: path) { lines.append(String(decoding: $0, as: UTF8.self)) }
            #expect(lines == ["a", "b", "c"])
        }
    }
}
