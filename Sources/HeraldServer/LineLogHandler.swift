import Foundation
import HeraldCore
import Logging
import Synchronization

/// Writes one line per event to a ``LogOutput``: a JSON object (`ts`, `level`, `msg`, then the
/// metadata) or, as text, the time, level, label, message and `key=value` metadata.
///
/// Herald's own code only ever puts identifiers and classifications in metadata (email id,
/// provider, attempt, outcome, error class); never addresses, subjects, bodies or credentials.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: HeraldConfiguration.LogFormat
    private let output: LogOutput

    public init(label: String, format: HeraldConfiguration.LogFormat, output: LogOutput = .standardOutput) {
        self.label = label
        self.format = format
        self.output = output
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
        let time = UTCTime(Date()).iso8601
        var line: String
        switch format {
        case .json:
            line = "{\"ts\":\"\(time)\",\"level\":\"\(event.level.rawValue)\",\"msg\":" + Self.quoted(event.message.description)
            for key in fields.keys.sorted() {
                line += "," + Self.quoted(key) + ":" + Self.quoted("\(fields[key]!)")
            }
            line += "}\n"
        case .text:
            line = "\(time) \(event.level.rawValue) \(label): \(event.message)"
            for key in fields.keys.sorted() {
                line += " \(key)=\(fields[key]!)"
            }
            line += "\n"
        }
        output.write(Array(line.utf8))
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
