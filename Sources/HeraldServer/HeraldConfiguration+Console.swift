import Foundation

extension HeraldConfiguration {
    /// `console.*`: the browser console's sessions.
    public struct Console: Sendable {
        /// The key that signs session cookies and CSRF tokens, 32 bytes; nil for a random key of
        /// this process, so that sessions end at a restart and do not reach other nodes.
        public var sessionKey: [UInt8]?
        public var sessionLifetime: Duration = .seconds(8 * 3600)

        public init() {}
    }

    static func console(_ settings: SettingsReader) throws(ConfigurationError) -> Console {
        var console = Console()
        console.sessionKey = try settings.key256("console.session_key")
        let hours = try settings.double("console.session_hours", default: 8, in: 0.05...168)
        console.sessionLifetime = .seconds(hours * 3600)
        return console
    }
}
