import HeraldCore
import NIOCore
import NIOSSL

/// Maps SMTP replies and transport errors onto Herald's error classes.
///
/// Messages name the stage and the codes only: server reply text often quotes addresses, so it
/// is never copied into a failure.
public enum SMTPFailureClassifier {
    /// The failure for a negative reply (4xx or 5xx) at `stage`.
    public static func failure(for reply: SMTPReply, at stage: SMTPStage) -> ProviderFailure {
        let code = "smtp_\(reply.codeDescription)"
        let shown = reply.enhancedCode.map { "\(reply.code) \($0)" } ?? "\(reply.code)"
        let message = "the SMTP server answered \(stage.rawValue) with \(shown)"
        return ProviderFailure(errorClass(for: reply, at: stage), code: code, message: message)
    }

    static func errorClass(for reply: SMTPReply, at stage: SMTPStage) -> ErrorClass {
        // 530 (authentication required), 534 (mechanism too weak), 535 (credentials invalid):
        // RFC 4954 §4 and §6. Broken credentials stay broken for every email.
        if [530, 534, 535].contains(reply.code) { return .providerFatal }
        if reply.isTransientNegative { return .transient }
        guard reply.isPermanentNegative else { return .transient }
        if let enhanced = reply.enhancedCode, enhanced.statusClass == 5 {
            // X.1.x is about addresses (RFC 3463 §3.2); X.1.7 and X.1.8 are the sender's.
            if enhanced.subject == 1, ![7, 8].contains(enhanced.detail) { return .recipient }
            // X.3.4: larger than this server takes; another provider may take it.
            if enhanced.subject == 3, enhanced.detail == 4 { return .failover }
        }
        if stage == .rcptTo, [550, 551, 553].contains(reply.code) { return .recipient }
        if stage.isSessionSetup { return .providerFatal }
        return .permanent
    }

    /// The failure for an error below the SMTP dialogue: refused connection, TLS, timeout, drop.
    /// Before the final `.` nothing was delivered, so it is transient; after it the server may
    /// have taken the message (RFC 1047), so it is ambiguous.
    public static func failure(forTransportError error: any Error, at stage: SMTPStage) -> ProviderFailure {
        if let failure = error as? ProviderFailure { return failure }
        if case SMTPTransportError.notWritten = error {
            return ProviderFailure(
                .transient, code: "smtp_connection_closed",
                message: "the SMTP client lost the connection before it wrote the \(stage.rawValue) step")
        }
        let errorClass: ErrorClass = stage.mayHaveDelivered ? .ambiguous : .transient
        let kind: String
        let what: String
        switch error {
        case SMTPTransportError.timeout, ChannelError.connectTimeout:
            (kind, what) = ("timeout", "timed out")
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            (kind, what) = ("tls_failed", "failed to set up TLS")
        case _ where stage == .connect:
            (kind, what) = ("connect_failed", "could not connect")
        case SMTPTransportError.malformedReply, SMTPTransportError.lineTooLong:
            (kind, what) = ("protocol_error", "received a malformed reply")
        default:
            (kind, what) = ("connection_closed", "lost the connection")
        }
        return ProviderFailure(
            errorClass, code: "smtp_\(kind)" + (stage.mayHaveDelivered ? "_after_data" : ""),
            message: "the SMTP client \(what) at \(stage.rawValue)")
    }
}
