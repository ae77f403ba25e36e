/// A provider call that did not deliver the email, classified so that the dispatcher knows
/// what to do next. The message must be safe to show to clients and to log: it never holds an
/// address, a subject, a body or a credential.
public struct ProviderFailure: Error, Sendable, Equatable {
    public var errorClass: ErrorClass
    /// A stable machine-readable code, such as `http_503` or `timeout`.
    public var code: String
    public var message: String
    /// How long the provider asked not to be called again (HTTP `Retry-After`, SMTP 421).
    public var retryAfter: Duration?
    /// The recipients a ``ErrorClass/recipient`` failure is about, when the provider says
    /// which; nil when it does not, or when the failure concerns the whole email.
    public var recipients: [String]?

    public init(_ errorClass: ErrorClass, code: String, message: String, retryAfter: Duration? = nil, recipients: [String]? = nil) {
        self.errorClass = errorClass
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.recipients = recipients
    }
}

extension ProviderFailure {
    /// `class:code`, as shown in an email's failure reason.
    public var reason: String { "\(errorClass.rawValue):\(code)" }
}
