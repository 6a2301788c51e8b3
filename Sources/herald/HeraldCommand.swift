import ArgumentParser

/// `herald`: a Server-Sent Events hub speaking the Mercure protocol, and a small client for it.
@main
struct HeraldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Server push over Server-Sent Events: a Mercure-compatible hub and its client.",
        subcommands: [Serve.self, Publish.self, Subscribe.self, Token.self, Match.self],
        defaultSubcommand: Serve.self
    )

    /// Runs the command line, with PEM values given as separate arguments joined to their option
    /// first (see `attachingDashedValues`).
    static func main() async {
        await main(attachingDashedValues(Array(CommandLine.arguments.dropFirst())))
    }

    /// `--publisher-key "$(cat key.pem)"`: ArgumentParser rejects any argument starting with three
    /// dashes ("-----BEGIN ...") as a malformed option before options are matched, so such a value
    /// is attached to the long option before it (`--publisher-key=-----BEGIN ...`). An argument
    /// with three leading dashes is never valid on its own, so nothing valid changes meaning.
    static func attachingDashedValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for argument in arguments {
            if argument.hasPrefix("---"), let option = result.last, option.hasPrefix("--"), option.count > 2,
                !option.contains("=")
            {
                result[result.count - 1] = option + "=" + argument
            } else {
                result.append(argument)
            }
        }
        return result
    }
}
