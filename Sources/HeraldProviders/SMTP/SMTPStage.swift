/// Where in a session a reply or a transport error happened: the same reply code means
/// different things at different steps.
public enum SMTPStage: String, Sendable, CaseIterable {
    case connect
    case greeting
    case hello
    case startTLS = "starttls"
    case auth
    case reset
    case mailFrom = "mail"
    case rcptTo = "rcpt"
    case data
    /// After the final `.` was sent, until the server's reply to it.
    case dataEnd = "data_end"
    case quit

    /// Whether the message might have been accepted if the session broke down here.
    var mayHaveDelivered: Bool { self == .dataEnd }

    /// Steps that set up the session rather than the message: a refusal here says nothing
    /// about the email, only about the server or Herald's configuration of it.
    var isSessionSetup: Bool {
        switch self {
        case .connect, .greeting, .hello, .startTLS, .auth: true
        case .reset, .mailFrom, .rcptTo, .data, .dataEnd, .quit: false
        }
    }
}
