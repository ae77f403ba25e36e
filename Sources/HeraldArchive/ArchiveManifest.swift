import Foundation

/// What an archive file holds, written beside it as `<name>.manifest.json`: enough to tell,
/// years later, whether the file is whole.
public struct ArchiveManifest: Codable, Equatable, Sendable {
    public static let format = "herald-archive-1"

    public var format = Self.format
    /// The archive file's name, in the manifest's directory.
    public var file: String
    public var tenant: String
    /// The UTC day the emails were accepted on, `YYYY-MM-DD`.
    public var day: String
    /// How many emails (lines) the file holds.
    public var emails: Int
    /// The file's size and SHA-256 (lower-case hex), as written.
    public var bytes: Int
    public var sha256: String
    public var firstEmailID: String
    public var lastEmailID: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case format, file, tenant, day, emails, bytes, sha256
        case firstEmailID = "first_email_id"
        case lastEmailID = "last_email_id"
        case createdAt = "created_at"
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
