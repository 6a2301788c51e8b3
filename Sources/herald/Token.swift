import ArgumentParser
import HeraldHTTP

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `herald token`: mints an HS256 Mercure JWT, for scripts and trying private updates.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an HS256 JWT carrying Mercure claims.")

    @Option(help: "The HMAC secret (env HERALD_PUBLISHER_KEY).")
    var key: String?
    @Option(name: .customLong("publish"), help: "Selector the bearer may publish to (repeatable).")
    var publish: [String] = []
    @Option(name: .customLong("subscribe"), help: "Selector of private updates the bearer may receive (repeatable).")
    var subscribe: [String] = []
    @Option(help: "Lifetime in seconds (default 3600).")
    var ttl: Int = 3600

    func run() async throws {
        guard let secret = key ?? Environment.string("HERALD_PUBLISHER_KEY") else {
            throw ValidationError("--key (or HERALD_PUBLISHER_KEY) is required")
        }
        let claims = MercureClaims(
            exp: .init(value: Date().addingTimeInterval(TimeInterval(ttl))),
            mercure: .init(
                publish: publish.isEmpty ? nil : publish,
                subscribe: subscribe.isEmpty ? nil : subscribe
            )
        )
        print(try await HeraldKey(secret).sign(claims))
    }
}
