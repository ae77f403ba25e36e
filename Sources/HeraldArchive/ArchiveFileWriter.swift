import Crypto
import Foundation
import HeraldCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes one tenant's emails of one day as a new archive file in a directory: JSON Lines,
/// gzip, `<tenant>/<day>.jsonl.gz` (`<day>.1.jsonl.gz` and on for emails of a day archived
/// later), with its manifest beside it.
///
/// Nothing is in place until ``finish(now:)``: the file grows as `.partial`, is synced, takes
/// its name, and the manifest follows the same way; then the file is read back and checked
/// against the manifest and the emails written. Only an archive that passed may be trusted
/// with the only copy of an email.
public final class ArchiveFileWriter {
    public let tenant: String
    public let day: String
    private let directory: String
    private let name: String
    private let gzip: GzipFileWriter
    private var ids: [EmailID] = []
    private var finished = false

    public init(root: String, tenant: String, day: String) throws(ArchiveError) {
        self.tenant = tenant
        self.day = day
        let directory = root + "/" + Self.directoryName(of: tenant)
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ArchiveError("cannot create \(directory): \(error)")
        }
        var name = day
        var number = 0
        while ["jsonl.gz", "jsonl.gz.partial", "manifest.json"].contains(where: {
            FileManager.default.fileExists(atPath: "\(directory)/\(name).\($0)")
        }) {
            number += 1
            name = "\(day).\(number)"
        }
        self.name = name
        gzip = try GzipFileWriter(path: "\(directory)/\(name).jsonl.gz.partial")
    }

    deinit {
        if !finished { unlink(gzip.path) }
    }

    public var emailCount: Int { ids.count }

    public func append(_ email: EmailDetail) throws(ArchiveError) {
        let line: Data
        do {
            line = try ArchivedEmail.encoder.encode(ArchivedEmail(email))
        } catch {
            throw ArchiveError("cannot encode email \(email.id): \(error)")
        }
        try gzip.write(Array(line) + [UInt8(ascii: "\n")])
        ids.append(email.id)
    }

    /// Puts the file and its manifest in place, durably, and checks the file as read back.
    public func finish(now: Date) throws(ArchiveError) -> ArchiveManifest {
        guard let first = ids.first, let last = ids.last else { throw ArchiveError("an archive file needs an email") }
        let digest = try gzip.finish()
        let file = "\(directory)/\(name).jsonl.gz"
        let manifestPath = "\(directory)/\(name).manifest.json"
        let manifest = ArchiveManifest(
            file: "\(name).jsonl.gz", tenant: tenant, day: day, emails: ids.count, bytes: gzip.compressedBytes,
            sha256: digest.map { String(format: "%02x", $0) }.joined(), firstEmailID: first.rawValue, lastEmailID: last.rawValue,
            createdAt: now)
        guard rename(gzip.path, file) == 0 else { throw ArchiveError.system("cannot rename \(gzip.path)", errno) }
        finished = true
        do {
            let data = try ArchiveManifest.encoder.encode(manifest)
            try Self.writeDurably(data, to: manifestPath)
            try Self.syncDirectory(directory)
        } catch let error as ArchiveError {
            unlink(file)
            throw error
        } catch {
            unlink(file)
            throw ArchiveError("cannot write \(manifestPath): \(error)")
        }
        let checked = try ArchiveCheck.verify(manifestAt: manifestPath)
        guard checked.ids == ids else {
            throw ArchiveError("\(file) read back holds other emails than were written")
        }
        return manifest
    }

    /// A tenant's name as a directory's: letters, digits, `-` and `_` as they are, every other
    /// byte (`.` and `/` among them) as `%XX`.
    static func directoryName(of tenant: String) -> String {
        tenant.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"):
                String(UnicodeScalar(byte))
            default:
                String(format: "%%%02X", byte)
            }
        }.joined()
    }

    private static func writeDurably(_ data: Data, to path: String) throws {
        let partial = path + ".partial"
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ArchiveError.system("cannot create \(partial)", errno) }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(descriptor) == 0, rename(partial, path) == 0 else {
            let code = errno
            unlink(partial)
            throw ArchiveError.system("cannot write \(path)", code)
        }
    }

    private static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ArchiveError.system("cannot open \(path)", errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw ArchiveError.system("cannot sync \(path)", errno) }
    }
}
