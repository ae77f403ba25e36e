import Foundation
import HeraldCore

/// Checks an archive file against its manifest: its size and SHA-256, and that it decompresses
/// into as many emails as the manifest says, each a line Herald can read back.
public enum ArchiveCheck {
    public struct Result: Sendable {
        public let manifest: ArchiveManifest
        /// The emails' ids, in the file's order.
        public let ids: [EmailID]
    }

    /// `path` is a manifest (`….manifest.json`) or the archive file beside it (`….jsonl.gz`).
    public static func verify(_ path: String) throws(ArchiveError) -> Result {
        if path.hasSuffix(".manifest.json") { return try verify(manifestAt: path) }
        guard path.hasSuffix(".jsonl.gz") else { throw ArchiveError("\(path) is neither an archive file nor its manifest") }
        return try verify(manifestAt: String(path.dropLast(".jsonl.gz".count)) + ".manifest.json")
    }

    static func verify(manifestAt manifestPath: String) throws(ArchiveError) -> Result {
        let manifest: ArchiveManifest
        do {
            manifest = try ArchiveManifest.decoder.decode(ArchiveManifest.self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        } catch {
            throw ArchiveError("cannot read the manifest \(manifestPath): \(error)")
        }
        guard manifest.format == ArchiveManifest.format else {
            throw ArchiveError("\(manifestPath) is of format \(manifest.format), not \(ArchiveManifest.format)")
        }
        let file = (manifestPath as NSString).deletingLastPathComponent + "/" + manifest.file
        var ids: [EmailID] = []
        let digest: String
        do {
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? -1
            guard size == manifest.bytes else { throw ArchiveError("\(file) has \(size) bytes; its manifest says \(manifest.bytes)") }
            digest = try GzipFileReader.read(path: file) { line in
                let email = try ArchivedEmail.decoder.decode(ArchivedEmail.self, from: Data(line))
                ids.append(email.id)
            }.map { String(format: "%02x", $0) }.joined()
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw ArchiveError("\(file) holds a line that is not an archived email: \(error)")
        }
        guard digest == manifest.sha256 else {
            throw ArchiveError("\(file) has SHA-256 \(digest); its manifest says \(manifest.sha256)")
        }
        guard ids.count == manifest.emails else {
            throw ArchiveError("\(file) holds \(ids.count) emails; its manifest says \(manifest.emails)")
        }
        guard ids.first?.rawValue == manifest.firstEmailID, ids.last?.rawValue == manifest.lastEmailID else {
            throw ArchiveError("\(file)'s first and last emails are not those its manifest names")
        }
        return Result(manifest: manifest, ids: ids)
    }
}
