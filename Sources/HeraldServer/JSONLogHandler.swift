import Foundation
import HeraldCore
import Logging
import Synchronization

/// Writes one JSON object per line to standard output: `ts`, `level`, `msg`, then metadata.
///
/// Herald's own code only ever puts identifiers and classifications in metadata (email id,
/// provider, attempt, outcome, error class); never addresses, subjects, bodies or credentials.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    private static let output = Mutex(())

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        // Formatted by hand: Foundation's ISO 8601 style cost more than the rest of a line, and
        // the dispatcher logs a line for every email.
        var line = "{\"ts\":\"\(UTCTime(Date()).iso8601)\""
        line += ",\"level\":\"\(event.level.rawValue)\",\"msg\":" + Self.quoted(event.message.description)
        for key in fields.keys.sorted() {
            line += "," + Self.quoted(key) + ":" + Self.quoted("\(fields[key]!)")
        }
        line += "}\n"
        let bytes = Data(line.utf8)
        Self.output.withLock { _ in FileHandle.standardOutput.write(bytes) }
    }

    static func quoted(_ string: String) -> String {
        // Ids, levels and classifications, nearly all that is logged, need no escaping.
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + string + "\""
        }
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
