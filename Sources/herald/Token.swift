import ArgumentParser
import HeraldHTTP

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `herald token`: mints an HS256 Mercure JWT, for scripts and trying private updates: a 0.x
/// token (the `mercure` claim) by default, a Mercure 1.0 access token with `--access-token`.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an HS256 JWT carrying Mercure claims (0.x), or a Mercure 1.0 access token (--access-token)."
    )

    @Option(help: "The HMAC secret (env HERALD_PUBLISHER_KEY).")
    var key: String?
    @Option(name: .customLong("publish"), help: "Selector the bearer may publish to (repeatable; 1.0: an exact topic or *).")
    var publish: [String] = []
    @Option(name: .customLong("subscribe"), help: "Selector of private updates the bearer may receive (repeatable; 1.0: an exact topic or *).")
    var subscribe: [String] = []
    @Option(help: "Lifetime in seconds (default 3600).")
    var ttl: Int = 3600

    @Flag(help: "Mint a Mercure 1.0 OAuth 2.0 access token (typ at+jwt, authorization_details) instead of a 0.x token.")
    var accessToken = false
    @Option(help: "1.0: the token's issuer (iss), one of the hub's --issuer values.")
    var issuer: String?
    @Option(help: "1.0: the token's audience (aud), the hub's resource identifier, e.g. https://example.com/.well-known/mercure (repeatable).")
    var audience: [String] = []
    @Option(help: "1.0: the token's subject (sub).")
    var subject: String?
    @Option(name: .customLong("publish-urlpattern"), help: "1.0: URL Pattern the bearer may publish to (repeatable).")
    var publishURLPattern: [String] = []
    @Option(name: .customLong("subscribe-urlpattern"), help: "1.0: URL Pattern of private updates the bearer may receive (repeatable).")
    var subscribeURLPattern: [String] = []
    @Option(help: "1.0: JSON payload of the subscribe grant (shown by the subscriptions API).")
    var payload: String?

    func validate() throws {
        guard ttl > 0 else { throw ValidationError("--ttl must be positive") }
        if !accessToken, issuer != nil || !audience.isEmpty || subject != nil || !publishURLPattern.isEmpty
            || !subscribeURLPattern.isEmpty || payload != nil
        {
            throw ValidationError("--issuer, --audience, --subject, --*-urlpattern and --payload need --access-token")
        }
        if accessToken, audience.isEmpty {
            throw ValidationError("--access-token needs --audience (the hub's resource identifier)")
        }
    }

    func run() async throws {
        guard let secret = key ?? Environment.string("HERALD_PUBLISHER_KEY") else {
            throw ValidationError("--key (or HERALD_PUBLISHER_KEY) is required")
        }
        let expiry = Date().addingTimeInterval(TimeInterval(ttl))
        if accessToken {
            var token = MercureAccessToken(issuer: issuer, audience: audience, subject: subject, expiresAt: expiry)
            token.publish = publish.map { .init($0) } + publishURLPattern.map { .init($0, type: .urlpattern) }
            token.subscribe = subscribe.map { .init($0) } + subscribeURLPattern.map { .init($0, type: .urlpattern) }
            if let payload {
                do {
                    token.payload = try JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8))
                } catch {
                    throw ValidationError("--payload is not JSON")
                }
            }
            print(try await HeraldKey(secret).sign(token))
            return
        }
        print(try await HeraldKey(secret).mintToken(publish: publish, subscribe: subscribe, expiresAt: expiry))
    }
}
