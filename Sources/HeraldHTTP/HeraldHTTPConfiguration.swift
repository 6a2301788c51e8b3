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

    /// Creates the default configuration: no keys, anonymous subscribers allowed.
    public init() {}
}
