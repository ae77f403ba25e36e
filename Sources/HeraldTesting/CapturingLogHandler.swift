import Logging
import Synchronization

/// Keeps every line as text, with the metadata of the event, of the logger that logged it
/// (`logger[metadataKey:]`, as the SMTP provider sets its name) and of a metadata provider:
/// each handler is a value with its own logger metadata, sharing one list of lines.
public struct CapturingLogHandler: LogHandler {
    public let lines: Lines
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .trace

    public final class Lines: Sendable {
        public let all = Mutex<[String]>([])
        public var text: String { all.withLock { $0.joined(separator: "\n") } }
    }

    /// A logger whose every line, at every level, goes to the lines returned with it.
    public static func logger() -> (Logger, Lines) {
        let lines = Lines()
        return (Logger(label: "herald") { _ in CapturingLogHandler(lines: lines) }, lines)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let provided = metadataProvider?.get() ?? [:]
        lines.all.withLock {
            $0.append("\(event.level) \(event.message) \(metadata) \(provided) \(event.metadata ?? [:]) \(event.source)")
        }
    }
}
