// The `herald` executable: subcommands that parse their flags and hand over to the libraries.
import ArgumentParser

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "A resilient email delivery service: accepts emails over HTTP and delivers them through healthy providers.",
        subcommands: [Serve.self, Send.self, Status.self, Providers.self]
    )
}
