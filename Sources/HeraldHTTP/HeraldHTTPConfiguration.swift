/// How the Herald routes authorize and bound requests.
public struct HeraldHTTPConfiguration: Sendable {
    /// Verifies publisher JWTs. When nil, publishing is accepted from loopback clients only.
    public var publisherKey: HeraldKey?
    /// Verifies subscriber JWTs (needed to receive private updates).
    public var subscriberKey: HeraldKey?
    /// Whether subscribers without a token may subscribe (they see public updates only).
    public var allowAnonymousSubscribers = true
    /// Largest accepted publish body, in bytes.
    public var maxBodySize = 1024 * 1024
    /// Where the hub is mounted.
    public var path = "/.well-known/mercure"
    /// The cookie that may carry a JWT (Mercure's name by default).
    public var cookieName = "mercureAuthorization"
    /// Origins of web pages on other sites that may use the hub from a browser (CORS), e.g.
    /// `https://app.example.com`: they may subscribe with cookies and publish. `*` allows any
    /// page, without cookies. Empty (the default): cross-origin pages cannot read the hub, and
    /// cross-origin publishes are refused (a page must not publish through its visitor's
    /// loopback or cookie).
    public var corsOrigins: [String] = []

    /// Mercure 1.0 access tokens: the trusted issuers (`iss`), each verified with the keys
    /// above. Empty: `iss` is not checked (self-issued tokens signed with the hub's keys).
    public var issuers: [String] = []
    /// Mercure 1.0 access tokens: the hub's resource identifier, the `aud` they must carry
    /// (e.g. `https://example.com/.well-known/mercure`). Nil: derived from each request's own
    /// URL (scheme, `Host`, hub path); set it behind a proxy that changes the scheme or host.
    public var resourceIdentifier: String?
    /// Mercure 1.0: the cookie that may carry an access token (for `EventSource`).
    public var accessTokenCookieName = AccessTokenRules.defaultCookieName

    /// A request's head (request line and header fields) must arrive within this time of its
    /// first byte (or of the connection's start): a client trickling a head is cut off.
    public var headTimeout: Duration = .seconds(10)
    /// A request's body must arrive within this time of its head.
    public var bodyTimeout: Duration = .seconds(10)
    /// A keep-alive connection with no request in progress is closed after this time.
    /// Streams are exempt from all three timeouts once open.
    public var idleTimeout: Duration = .seconds(60)
    /// On graceful shutdown, how long requests in progress may take; after it every remaining
    /// connection is closed, whatever its client does.
    public var shutdownTimeout: Duration = .seconds(10)
    /// Most connections open at once (`HeraldEndpoint.guardAccepts(on:)`); more are closed as
    /// soon as they are accepted. Nil: the open-files soft limit minus a reserve of 64.
    public var maxConnections: Int?
    /// The longest a long-poll (`poll=1`, see `HubProtocol.longPollWait`) waits for an event
    /// before it is answered with none; a client's `wait=` may only shorten it. Under 30 s by
    /// default, so proxies and old browsers do not give up on the request first.
    public var longPollTimeout: Duration = .seconds(25)

    /// Creates the default configuration: no keys, anonymous subscribers allowed.
    public init() {}
}
