import Foundation
import HeraldCore
import NIOCore

/// One email as an SMTP transaction: the envelope addresses, the rendered message, and the
/// extensions it needs. Building the commands is pure, so the choices are tested without I/O.
struct SMTPEnvelope: Sendable {
    let sender: String
    /// To, Cc and Bcc: Bcc recipients are only in the envelope, never in the headers.
    let recipients: [String]
    /// The message's size as SIZE= announces it (RFC 1870 §3: its octets with CRLF line ends,
    /// before dot-stuffing).
    let size: Int
    /// The message as it goes after DATA: dot-stuffed and terminated. Encoded before the
    /// message waits for a session, so that a session's event loop only moves bytes.
    let data: ByteBuffer

    /// Non-ASCII addresses need SMTPUTF8 (RFC 6531), which also covers 8-bit headers.
    let needsSMTPUTF8: Bool
    /// 8-bit octets in the message need BODY=8BITMIME (RFC 6152).
    let needsEightBit: Bool

    init(sender: String, recipients: [String], message: [UInt8]) {
        self.sender = sender
        self.recipients = recipients
        self.size = message.count
        self.data = SMTPDataEncoder.encode(message)
        self.needsSMTPUTF8 = !([sender] + recipients).allSatisfy(\.isASCII)
        self.needsEightBit = !message.withUnsafeBufferPointer(MIMEMessage.isASCII)
    }

    init(_ delivery: Delivery) {
        // Domains go out in their ASCII form, as in the headers, so that only a non-ASCII local
        // part needs SMTPUTF8.
        self.init(
            sender: IDNA.asciiDomain(ofAddress: delivery.message.from.address),
            recipients: delivery.message.recipients.map { IDNA.asciiDomain(ofAddress: $0.address) },
            message: MIMEMessage.render(delivery.message, emailID: delivery.emailID, date: delivery.acceptedAt))
    }

    /// Why the server, or Herald's own limit, cannot take this message; `nil` when it can.
    /// These are `failover`: another provider may well take the message. Without capabilities
    /// (before connecting) only the configured limit is checked.
    func refusal(by capabilities: SMTPCapabilities?, configuredLimit: Int?) -> ProviderFailure? {
        if let limit = [capabilities?.maximumSize, configuredLimit].compactMap({ $0 }).min(), size > limit {
            return ProviderFailure(
                .failover, code: "smtp_message_too_large",
                message: "the message has \(size) bytes, more than the \(limit) this SMTP provider takes")
        }
        guard let capabilities else { return nil }
        if needsSMTPUTF8, !capabilities.smtpUTF8 {
            return ProviderFailure(
                .failover, code: "smtp_smtputf8_unsupported",
                message: "the message has internationalized addresses and the SMTP server does not offer SMTPUTF8")
        }
        if needsEightBit, !needsSMTPUTF8, !capabilities.eightBitMIME {
            return ProviderFailure(
                .failover, code: "smtp_8bitmime_unsupported",
                message: "the message has 8-bit content and the SMTP server does not offer 8BITMIME")
        }
        return nil
    }

    /// `MAIL FROM:<sender>` with the parameters the server offers and this message needs.
    func mailCommand(for capabilities: SMTPCapabilities) -> String {
        var command = "MAIL FROM:<\(sender)>"
        if capabilities.supportsSize { command += " SIZE=\(size)" }
        if needsEightBit || needsSMTPUTF8, capabilities.eightBitMIME { command += " BODY=8BITMIME" }
        if needsSMTPUTF8 { command += " SMTPUTF8" }
        return command
    }
}
