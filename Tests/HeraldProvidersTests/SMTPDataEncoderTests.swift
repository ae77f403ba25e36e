import HeraldProviders
import NIOCore
import Testing

@Suite("SMTP DATA encoding")
struct SMTPDataEncoderTests {
    private func encode(_ text: String) -> String {
        String(buffer: SMTPDataEncoder.encode(Array(text.utf8)))
    }

    @Test(arguments: [
        ("a\r\nb\r\n", "a\r\nb\r\n.\r\n"),
        ("a\nb", "a\r\nb\r\n.\r\n"),
        ("a\rb\r\n", "a\r\nb\r\n.\r\n"),
        ("a\r\r\nb\n", "a\r\n\r\nb\r\n.\r\n"),
        (".starts with a dot\r\n", "..starts with a dot\r\n.\r\n"),
        ("x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n"),
        ("x\n..\n", "x\r\n...\r\n.\r\n"),
        ("not . at start\r\n", "not . at start\r\n.\r\n"),
        ("", ".\r\n"),
        (".", "..\r\n.\r\n"),
        ("a\r", "a\r\n.\r\n"),
        ("\n.\r.x", "\r\n..\r\n..x\r\n.\r\n"),
        ("x\r\n.y\r\n..\r\nz", "x\r\n..y\r\n...\r\nz\r\n.\r\n"),
        ("a\r\n.\r\nb\nc\r\n", "a\r\n..\r\nb\r\nc\r\n.\r\n"),
        // SMTP smuggling: a bare LF around a dot must not reach the server as it is.
        ("a\r\n\n.\nb\r\n", "a\r\n\r\n..\r\nb\r\n.\r\n"),
        ("a\r\n.\rb\r\n", "a\r\n..\r\nb\r\n.\r\n"),
    ])
    func `lines end in CRLF, leading dots are doubled and a lone dot ends the data`(input: String, expected: String) {
        #expect(encode(input) == expected)
    }

    @Test func `8-bit bytes pass through unchanged`() {
        #expect(encode("Grüße\n.ö") == "Grüße\r\n..ö\r\n.\r\n")
    }
}
