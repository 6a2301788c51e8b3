import HTTPTypes

/// Which web pages on other origins may use the hub from a browser, and the CORS headers that
/// tell the browser so. Built once from `HeraldHTTPConfiguration.corsOrigins`.
///
/// A listed origin is echoed with `Access-Control-Allow-Credentials: true`, so a page there can
/// open `new EventSource(url, { withCredentials: true })` with the `mercureAuthorization`
/// cookie. `*` lets any page read public streams but never with credentials: a wildcard that
/// also carried cookies would let every site read its visitors' private updates.
struct CORSPolicy: Sendable {
    private let listed: Set<String>
    private let anyOrigin: Bool

    init(_ origins: [String]) {
        anyOrigin = origins.contains("*")
        // `null` is what sandboxed frames and `data:` or `file:` pages on any site send: never a
        // page the operator can name, so never one to trust.
        listed = Set(origins.filter { $0 != "*" && $0 != "null" }.map(Self.normalized))
    }

    /// Whether any cross-origin page is allowed at all.
    var isEnabled: Bool { anyOrigin || !listed.isEmpty }

    /// Whether a page from `origin` may use the hub.
    func allows(_ origin: String) -> Bool {
        anyOrigin || isListed(origin)
    }

    /// Whether a page from `origin` may also send its cookies (only origins listed by name).
    func isListed(_ origin: String) -> Bool {
        listed.contains(Self.normalized(origin))
    }

    /// The headers of an answer to a request with this `Origin`: none without CORS or an
    /// `Origin`, only `Vary` for an origin that is not allowed.
    func headers(for origin: String?) -> HTTPFields {
        guard let origin, isEnabled else { return [:] }
        // With origins named, the answer depends on `Origin` whether or not this one is allowed.
        var fields: HTTPFields = listed.isEmpty ? [:] : [.vary: "Origin"]
        if isListed(origin) {
            fields[.accessControlAllowOrigin] = origin
            fields[.accessControlAllowCredentials] = "true"
        } else if anyOrigin {
            fields[.accessControlAllowOrigin] = "*"
        } else {
            return fields
        }
        fields[.accessControlExposeHeaders] = "Last-Event-ID, Mercure-Last-Event-ID, WWW-Authenticate"
        return fields
    }

    /// The headers of a successful preflight (`OPTIONS`) answer for `origin`, or nil when it
    /// is not allowed. `privateNetwork`: the browser asked whether a public page may reach this
    /// hub on a private or loopback address (Private Network Access); allowed origins may.
    func preflightHeaders(for origin: String, methods: String, privateNetwork: Bool = false) -> HTTPFields? {
        guard allows(origin) else { return nil }
        var fields = headers(for: origin)
        fields[.accessControlAllowMethods] = methods
        fields[.accessControlAllowHeaders] = Self.requestHeaders
        fields[.accessControlMaxAge] = "600"
        if privateNetwork { fields[Self.allowPrivateNetwork] = "true" }
        return fields
    }

    static let requestPrivateNetwork = HTTPField.Name("Access-Control-Request-Private-Network")!
    static let allowPrivateNetwork = HTTPField.Name("Access-Control-Allow-Private-Network")!

    /// What browsers may send: the hub's credentials and the headers EventSource clients and
    /// polyfills add.
    static let requestHeaders = "Authorization, Content-Type, Last-Event-ID, Cache-Control, X-Requested-With"

    /// Origins compare without case (browsers send them lowercase) and without a trailing `/`.
    private static func normalized(_ origin: String) -> String {
        var text = origin.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
