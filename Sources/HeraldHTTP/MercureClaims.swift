import JWTKit

/// The JWT payload Mercure defines: `mercure.publish`, `mercure.subscribe` (topic selectors)
/// and `mercure.payload`, plus the standard time claims, which are enforced.
public struct MercureClaims: JWTPayload, Equatable {
    /// The `mercure` claim.
    public struct Mercure: Codable, Sendable, Equatable {
        /// Selectors the bearer may publish to; nil means publishing is not allowed.
        public var publish: [String]?
        /// Selectors the bearer may receive private updates of.
        public var subscribe: [String]?
        /// Data about the subscriber, shown by the subscriptions API.
        public var payload: JSONValue?

        /// Creates the claim.
        public init(publish: [String]? = nil, subscribe: [String]? = nil, payload: JSONValue? = nil) {
            self.publish = publish
            self.subscribe = subscribe
            self.payload = payload
        }
    }

    /// Expiry (`exp`); an expired token is refused.
    public var exp: ExpirationClaim?
    /// Not-before (`nbf`); a token used too early is refused.
    public var nbf: NotBeforeClaim?
    /// Subject (`sub`), if the issuer set one.
    public var sub: SubjectClaim?
    /// The Mercure claim.
    public var mercure: Mercure?

    /// Creates claims, e.g. to mint tokens in tests or in the `herald` CLI.
    public init(exp: ExpirationClaim? = nil, nbf: NotBeforeClaim? = nil, sub: SubjectClaim? = nil, mercure: Mercure?) {
        self.exp = exp
        self.nbf = nbf
        self.sub = sub
        self.mercure = mercure
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}
