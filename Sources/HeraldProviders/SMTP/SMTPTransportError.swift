/// Failures of the connection itself, below the SMTP dialogue.
enum SMTPTransportError: Error, Equatable {
    /// No reply within the configured time for this step.
    case timeout
    /// The server closed the connection, or it broke, while a reply was due.
    case connectionClosed
    /// The server sent something that is not an SMTP reply.
    case malformedReply
    /// The server sent a line longer than RFC 5321 allows, by far.
    case lineTooLong
    /// The connection failed before the bytes the reply was due for were all written: the
    /// server cannot have taken what they carried, a message's final dot above all.
    case notWritten
}
