import HeraldCore

extension EmailMessage {
    /// A small valid email for tests.
    public static func sample(subject: String = "Hello") -> EmailMessage {
        EmailMessage(
            from: EmailAddress(displayName: "Ada", address: "ada@example.org"),
            to: [EmailAddress(address: "bob@example.com")],
            subject: subject,
            text: "Hello, Bob."
        )
    }
}
