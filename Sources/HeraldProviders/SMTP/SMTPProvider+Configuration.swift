extension SMTPProvider {
    /// How to reach and talk to one SMTP relay.
    public struct Configuration: Sendable, CustomStringConvertible {
        public enum TLSMode: String, Sendable, CaseIterable {
            /// Plaintext connect, then STARTTLS (RFC 3207); fail when the server does not offer it.
            case startTLS = "starttls"
            /// STARTTLS when offered, plaintext otherwise. Credentials are never sent in plaintext.
            case startTLSOptional = "starttls_optional"
            /// TLS from the first byte (RFC 8314), usually port 465.
            case implicit
            /// Plaintext only: for local relays and tests.
            case none
        }

        /// Each bound is well below RFC 5321 §4.5.3.2's ceilings (5 minutes per command, 10 for
        /// the final `.`): a worker should not wait that long when another provider could send.
        public struct Timeouts: Sendable, Equatable {
            public var connect: Duration
            public var greeting: Duration
            public var command: Duration
            /// From the final `.` to the server's reply; a timeout here is `ambiguous`.
            public var dataEnd: Duration

            public init(
                connect: Duration = .seconds(10), greeting: Duration = .seconds(30), command: Duration = .seconds(30),
                dataEnd: Duration = .seconds(120)
            ) {
                self.connect = connect
                self.greeting = greeting
                self.command = command
                self.dataEnd = dataEnd
            }
        }

        public var host: String
        public var port: Int
        public var tls: TLSMode
        /// A PEM file of certificates to trust instead of the system's; verification stays on.
        public var caFile: String?
        public var username: String?
        public var password: String?
        /// The name sent with EHLO; the machine's public name where the relay checks it.
        public var heloName: String
        public var timeouts: Timeouts
        public var maxConnections: Int
        /// Herald's own limit on the message size in bytes, on top of the server's SIZE.
        public var maxMessageSize: Int?

        public init(
            host: String, port: Int = 587, tls: TLSMode = .startTLS, caFile: String? = nil, username: String? = nil,
            password: String? = nil, heloName: String = "localhost", timeouts: Timeouts = .init(), maxConnections: Int = 4,
            maxMessageSize: Int? = nil
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.caFile = caFile
            self.username = username
            self.password = password
            self.heloName = heloName
            self.timeouts = timeouts
            self.maxConnections = maxConnections
            self.maxMessageSize = maxMessageSize
        }

        /// Everything but the password, which must never reach a log.
        public var description: String {
            "smtp(\(host):\(port), tls: \(tls.rawValue), user: \(username ?? "none"), password: \(password == nil ? "none" : "redacted"))"
        }
    }
}
