import Hummingbird

/// Both kinds of token as one grant, and the interim wiring of Mercure 1.0 access tokens into
/// today's publish path (so they can be tried end to end before the protocol core lands; the
/// core calls ``grant(for:role:audience:accepting:)``, or its two halves, itself).
extension HeraldEndpoint {
    /// Whose key verifies a token.
    enum TokenRole {
        case publisher, subscriber
    }

    /// The hub's resource identifier for `request`: configured, or its own URL as the client
    /// reached it (HTTP/2 requests carry their scheme; HTTP/1.1 ones are taken as `http`).
    func resourceIdentifier(of request: Request) -> String? {
        configuration.resourceIdentifier(scheme: request.head.scheme ?? "http", authority: request.head.authority)
    }

    /// The grant of `token`, whichever kind it is, or an RFC 6750 refusal: a token whose header
    /// says `typ: at+jwt` is a 1.0 access token (``AccessTokenVerifier``, checked against
    /// `audience`); any other is a 0.x JWT (`TokenVerifier`, its claims as `MercureGrant(claims:)`).
    ///
    /// `accepting` lists the kinds the request may use: a 1.0 request (`match=`) accepts
    /// `[.accessToken]` only (Mercure 1.0 refuses tokens without `typ: at+jwt`); a 0.x request
    /// and a publish may accept both. A token of another kind is `invalid_token`. Without a key
    /// for `role`, every token is `invalid_token`.
    func grant(
        for token: String,
        role: TokenRole,
        audience: String?,
        accepting kinds: Set<MercureGrant.TokenKind> = [.legacy, .accessToken]
    ) async throws(BearerError) -> MercureGrant {
        let (legacy, access) =
            switch role {
            case .publisher: (publisherVerifier, publisherAccessTokens)
            case .subscriber: (subscriberVerifier, subscriberAccessTokens)
            }
        try AccessTokenRules.checkLength(token)
        if AccessTokenVerifier.isAccessToken(token) {
            guard kinds.contains(.accessToken) else { throw .invalidToken("access tokens (at+jwt) are not accepted here") }
            guard let access else { throw .invalidToken("no key to verify the token") }
            return try await access.verify(token, audience: audience)
        }
        guard kinds.contains(.legacy) else {
            throw AccessTokenRules.notAnAccessToken(typ: (try? AccessTokenVerifier.header(of: token))?.typ)
        }
        guard let legacy else { throw .invalidToken("no key to verify the token") }
        do {
            return MercureGrant(claims: try await legacy.verify(token))
        } catch {
            throw .invalidToken(error.reason)
        }
    }

    /// Authorizes a publish whose token is a 1.0 access token (`typ: at+jwt`) with RFC 6750
    /// answers, returning true; returns false for any other token (0.x rules apply).
    func authorizeAccessTokenPublisher(_ request: Request, token: String, topics: [String]) async throws(Refusal) -> Bool {
        guard AccessTokenVerifier.isAccessToken(token) else { return false }
        let grant: MercureGrant
        do {
            grant = try await self.grant(for: token, role: .publisher, audience: resourceIdentifier(of: request), accepting: [.accessToken])
        } catch {
            throw error.refusal
        }
        guard grant.publish != nil else { throw BearerError.insufficientScope("token grants no publish action").refusal }
        if let topic = grant.firstTopicNotPublishable(topics) {
            throw BearerError.insufficientScope("not allowed to publish to \(topic)").refusal
        }
        return true
    }
}
