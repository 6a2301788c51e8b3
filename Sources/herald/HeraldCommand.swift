import ArgumentParser

/// `herald`: a Server-Sent Events hub speaking the Mercure protocol, and a small client for it.
@main
struct HeraldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Server push over Server-Sent Events: a Mercure-compatible hub and its client.",
        subcommands: [Serve.self, Publish.self, Subscribe.self, Token.self],
        defaultSubcommand: Serve.self
    )
}
