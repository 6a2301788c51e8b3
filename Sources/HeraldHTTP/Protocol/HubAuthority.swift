import struct Foundation.Date
import HeraldHub

/// Where a request's token came from: a cookie (ambient, sent by the browser on its own)
/// needs the origin check on publish.
enum CredentialSource: Hashable, Sendable {
    case header, query, cookie
}

/// A request's credentials as the core found them (see `HubProtocol.credentials(of:version:)`).
struct HubCredentials: Hashable, Sendable {
    var token: String
    var source: CredentialSource
}

/// Which key verifies a token: a publish, or a subscribe / subscriptions API read.
enum HubRole: Sendable {
    case publisher, subscriber
}

/// What verified credentials allow: the grant model the core authorizes against, whatever kind
/// of token produced it (a 0.x `mercure` claim, or a 1.0 access token's
/// `authorization_details`).
struct HubGrant: Sendable {
    /// Selectors the bearer may publish to; nil when the token grants no publishing at all.
    var publish: [TopicSelector]?
    /// Selectors whose private updates the bearer may receive (and that it may subscribe to
    /// on a hub without anonymous subscribers).
    var subscribe: [TopicSelector]
    /// The subscriber's payload as JSON text, shown by the subscriptions API.
    var payload: String?
    /// When the token ends (`exp`): a stream opened with it is closed then.
    var expiresAt: Date?

    init(publish: [TopicSelector]?, subscribe: [TopicSelector], payload: String?, expiresAt: Date? = nil) {
        self.publish = publish
        self.subscribe = subscribe
        self.payload = payload
        self.expiresAt = expiresAt
    }
}

/// The one seam through which the core authorizes a request: turns credentials into a grant,
/// or a refusal (401 for a token that does not verify, with `WWW-Authenticate`). A new kind of
/// token is one more conformance (or one more case inside one), not another copy of the rules.
protocol HubAuthority: Sendable {
    /// Whether tokens for `role` can be verified at all (a key is configured).
    func verifies(_ role: HubRole) -> Bool
    /// Verifies `credentials` for `role`.
    func grant(_ credentials: HubCredentials, for role: HubRole) async throws(Refusal) -> HubGrant
    /// The grant of credentials verified recently and still valid, without waiting; nil when
    /// they would have to be verified (the event-loop fast path then leaves the request to
    /// the router, which waits).
    func cachedGrant(_ credentials: HubCredentials, for role: HubRole) -> HubGrant?
}

/// Mercure 0.x JWTs (`mercure.publish`, `mercure.subscribe`, `mercure.payload`), each role
/// verified with its own key.
struct MercureTokenAuthority: HubAuthority {
    let publisher: TokenVerifier?
    let subscriber: TokenVerifier?

    init(configuration: HeraldHTTPConfiguration, hub: Hub) {
        // Subscribe claims share the hub's compiled templates (one per distinct text).
        publisher = configuration.publisherKey.map { TokenVerifier(key: $0, hub: hub) }
        subscriber = configuration.subscriberKey.map { TokenVerifier(key: $0, hub: hub) }
    }

    private func verifier(_ role: HubRole) -> TokenVerifier? {
        switch role {
        case .publisher: publisher
        case .subscriber: subscriber
        }
    }

    func verifies(_ role: HubRole) -> Bool { verifier(role) != nil }

    func grant(_ credentials: HubCredentials, for role: HubRole) async throws(Refusal) -> HubGrant {
        guard let verifier = verifier(role) else { throw .unauthorized("no key to verify the token") }
        return try await verifier.verify(credentials.token)
    }

    func cachedGrant(_ credentials: HubCredentials, for role: HubRole) -> HubGrant? {
        verifier(role)?.cachedGrant(credentials.token)
    }
}
