#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Minting, for `herald token` and HeraldTesting: one place that says what a minted token holds.

extension HeraldKey {
    /// A Mercure 0.x JWT signed with this key: the `mercure` claim with these selectors (an
    /// empty list leaves the entry out) and payload, valid until `expiresAt`.
    package func mintToken(
        publish: [String] = [],
        subscribe: [String] = [],
        payload: JSONValue? = nil,
        expiresAt: Date
    ) async throws -> String {
        let claims = MercureClaims(
            exp: .init(value: expiresAt),
            mercure: .init(
                publish: publish.isEmpty ? nil : publish,
                subscribe: subscribe.isEmpty ? nil : subscribe,
                payload: payload
            )
        )
        return try await sign(claims)
    }
}
