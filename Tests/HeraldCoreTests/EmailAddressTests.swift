import HeraldCore
import Testing

@Suite("Email addresses")
struct EmailAddressTests {
    @Test(
        arguments: [
            ("ada@example.org", nil, "ada@example.org"),
            ("Ada Lovelace <ada@example.org>", "Ada Lovelace", "ada@example.org"),
            ("\"Lovelace, Ada\" <ada@example.org>", "Lovelace, Ada", "ada@example.org"),
            ("  <ada@example.org>  ", nil, "ada@example.org"),
            ("Jürgen <jürgen@bücher.de>", "Jürgen", "jürgen@bücher.de"),
            ("用户 <user@例子.测试>", "用户", "user@例子.测试"),
            ("first.last+tag@sub.example.co.uk", nil, "first.last+tag@sub.example.co.uk"),
            ("\"Say \\\"hi\\\"\" <x@example.com>", "Say \"hi\"", "x@example.com"),
        ] as [(String, String?, String)])
    func `parses valid mailboxes`(input: String, displayName: String?, address: String) throws {
        let parsed = try EmailAddress(parsing: input)
        #expect(parsed.displayName == displayName)
        #expect(parsed.address == address)
    }

    @Test(arguments: [
        ("", EmailAddress.ParseError.empty),
        ("no-at-sign", .malformed),
        ("@example.org", .invalidLocalPart),
        ("a b@example.org", .invalidLocalPart),
        ("a..b@example.org", .invalidLocalPart),
        ("ada@localhost", .invalidDomain),
        ("ada@-bad.org", .invalidDomain),
        ("ada@exa_mple.org", .invalidDomain),
        ("ada@example..org", .invalidDomain),
        ("Ada <ada@example.org", .invalidLocalPart),
        ("Ada\r\nBcc: x@evil.com <ada@example.org>", .lineBreak),
        ("ada@example.org\n", .lineBreak),
        ("A\"da <ada@example.org>", .malformed),
    ])
    func `rejects invalid mailboxes with a reason`(input: String, error: EmailAddress.ParseError) {
        #expect(throws: error) { try EmailAddress(parsing: input) }
    }

    @Test func `formats display names that need quoting`() throws {
        let address = EmailAddress(displayName: "Lovelace, Ada", address: "ada@example.org")
        #expect(address.description == "\"Lovelace, Ada\" <ada@example.org>")
        #expect(try EmailAddress(parsing: address.description) == address)
    }
}
