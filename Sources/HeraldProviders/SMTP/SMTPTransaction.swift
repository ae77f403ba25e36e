import HeraldCore

/// The commands of one mail transaction up to DATA, and what their replies mean, without I/O.
///
/// Replies are read in the order of the commands. A recipient refused for good (5xx) is set
/// aside and the transaction goes on for the others, as RFC 5321 §3.3 allows; any other
/// refusal, or every recipient refused, ends it with a ``failure``.
struct SMTPTransaction {
    private enum Command {
        case reset
        case mailFrom(String)
        case recipient(String)
        case data

        var stage: SMTPStage {
            switch self {
            case .reset: .reset
            case .mailFrom: .mailFrom
            case .recipient: .rcptTo
            case .data: .data
            }
        }

        var line: String {
            switch self {
            case .reset: "RSET"
            case .mailFrom(let command): command
            case .recipient(let address): "RCPT TO:<\(address)>"
            case .data: "DATA"
            }
        }
    }

    private let commands: [Command]
    private var repliesRead = 0
    private var recipientsAccepted = 0
    /// Recipients refused for good, while others may still get the message.
    private(set) var refused: [RefusedRecipient] = []
    /// Why the transaction cannot deliver the message, once a reply has said so.
    private(set) var failure: SMTPConnection.Failure?

    /// `reset` starts with RSET, for a session that carried an earlier transaction.
    init(_ envelope: SMTPEnvelope, capabilities: SMTPCapabilities, reset: Bool) {
        commands =
            (reset ? [.reset] : []) + [.mailFrom(envelope.mailCommand(for: capabilities))]
            + envelope.recipients.map(Command.recipient) + [.data]
    }

    var lines: [String] { commands.map(\.line) }
    var stages: [SMTPStage] { commands.map(\.stage) }

    /// Reads the reply to the next command. Returns whether the transaction can still succeed,
    /// that is, whether a client sending one command at a time should send the next.
    ///
    /// A pipelining client has sent DATA already: when the server answered it with 354 after an
    /// earlier refusal, the session is in the middle of a message that must not be sent, and
    /// only closing it abandons the transaction (RFC 2920 §3.1).
    @discardableResult
    mutating func read(_ reply: SMTPReply) -> Bool {
        let command = commands[repliesRead]
        repliesRead += 1
        switch command {
        case .reset, .mailFrom:
            if failure == nil { failure = SMTPConnection.refusal(reply, expected: [250], at: command.stage) }
        case .recipient(let address):
            guard failure == nil else { break }
            if let refusal = SMTPConnection.refusal(reply, expected: [250, 251], at: .rcptTo) {
                if reply.isPermanentNegative {
                    refused.append(RefusedRecipient(address: address, failure: refusal.failure))
                } else {
                    failure = refusal
                }
            } else {
                recipientsAccepted += 1
            }
            if failure == nil, repliesRead == commands.count - 1, recipientsAccepted == 0 {
                var everyoneRefused = refused[0].failure
                everyoneRefused.recipients = refused.map(\.address)
                failure = SMTPConnection.Failure(failure: everyoneRefused, stage: .rcptTo, keepsConnection: true)
            }
        case .data:
            if failure == nil {
                failure = SMTPConnection.refusal(reply, expected: [354], at: .data)
            } else if reply.code == 354 {
                failure?.keepsConnection = false
            }
        }
        return failure == nil
    }
}
