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
    /// The hub's resource identifier for this request: the `aud` a 1.0 access token must name.
    var audience: String? = nil
    /// A Mercure 1.0 request (`match=`) takes access tokens (`typ: at+jwt`) only.
    var accessTokensOnly = false
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
    /// A Mercure 1.0 access token's grant answers refusals in RFC 6750 terms.
    var isAccessToken = false
    /// The verified 1.0 grant this came from (its `subscribe` details carry one payload each).
    var accessGrant: MercureGrant?

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

/// Both kinds of Mercure token, each role verified with its own key: 0.x JWTs (the `mercure`
/// claim) and 1.0 OAuth 2.0 access tokens (`typ: at+jwt`, `authorization_details`; see
/// `AccessTokenVerifier`), told apart by their header's `typ`. A 1.0 request takes access
/// tokens only; refusals of access tokens are RFC 6750 answers.
struct MercureTokenAuthority: HubAuthority {
    let publisher: TokenVerifier?
    let subscriber: TokenVerifier?
    let publisherAccessTokens: AccessTokenVerifier?
    let subscriberAccessTokens: AccessTokenVerifier?

    init(configuration: HeraldHTTPConfiguration, hub: Hub) {
        // Subscribe claims share the hub's compiled templates (one per distinct text).
        publisher = configuration.publisherKey.map { TokenVerifier(key: $0, hub: hub) }
        subscriber = configuration.subscriberKey.map { TokenVerifier(key: $0, hub: hub) }
        publisherAccessTokens = configuration.publisherKey.map { AccessTokenVerifier(key: $0, rules: configuration.accessTokenRules) }
        subscriberAccessTokens = configuration.subscriberKey.map { AccessTokenVerifier(key: $0, rules: configuration.accessTokenRules) }
    }

    private func verifiers(_ role: HubRole) -> (TokenVerifier?, AccessTokenVerifier?) {
        switch role {
        case .publisher: (publisher, publisherAccessTokens)
        case .subscriber: (subscriber, subscriberAccessTokens)
        }
    }

    func verifies(_ role: HubRole) -> Bool { verifiers(role).0 != nil }

    func grant(_ credentials: HubCredentials, for role: HubRole) async throws(Refusal) -> HubGrant {
        let (legacy, access) = verifiers(role)
        do throws(BearerError) {
            try AccessTokenRules.checkLength(credentials.token)
            if AccessTokenVerifier.isAccessToken(credentials.token) {
                guard let access else { throw BearerError.invalidToken("no key to verify the token") }
                return HubGrant(try await access.verify(credentials.token, audience: credentials.audience))
            }
            if credentials.accessTokensOnly {
                throw AccessTokenRules.notAnAccessToken(typ: (try? AccessTokenVerifier.header(of: credentials.token))?.typ)
            }
        } catch {
            throw error.refusal
        }
        guard let legacy else { throw .unauthorized("no key to verify the token") }
        return try await legacy.verify(credentials.token)
    }

    func cachedGrant(_ credentials: HubCredentials, for role: HubRole) -> HubGrant? {
        let (legacy, access) = verifiers(role)
        if AccessTokenVerifier.isAccessToken(credentials.token) {
            return access?.cachedGrant(credentials.token, audience: credentials.audience).map(HubGrant.init)
        }
        return credentials.accessTokensOnly ? nil : legacy?.cachedGrant(credentials.token)
    }
}

extension HubGrant {
    /// The grant of a verified 1.0 access token.
    init(_ grant: MercureGrant) {
        self.init(
            publish: grant.publish,
            subscribe: grant.subscribe ?? [],
            payload: grant.payload?.jsonText,
            expiresAt: grant.expiresAt
        )
        isAccessToken = grant.kind == .accessToken
        accessGrant = isAccessToken ? grant : nil
    }

    /// The payload of each Mercure 1.0 subscription made with `selectors`: the first
    /// `subscribe` detail covering it (`MercureGrant.payload(forSubscription:)`); nil entries
    /// for a grant without one.
    func matcherPayloads(_ selectors: [TopicSelector]) -> [String?] {
        selectors.map { accessGrant?.payload(forSubscription: $0)?.jsonText }
    }

    /// A 403 for what this grant does not allow: RFC 6750 `insufficient_scope` (with its
    /// `WWW-Authenticate` challenge) for an access token, a plain 403 for a 0.x token.
    func forbidden(_ reason: String) -> Refusal {
        isAccessToken ? BearerError.insufficientScope(reason).refusal : .forbidden(reason)
    }
}
