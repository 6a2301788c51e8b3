import HTTPTypes
import HeraldHub
import JWTKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Mercure 1.0 authorization: OAuth 2.0 JWT access tokens (RFC 9068) whose
// `authorization_details` claim (RFC 9396) grants publish/subscribe per topic matcher, answered
// with RFC 6750 errors. Every rule of it is in this file; its result is a `MercureGrant`, the
// same as a 0.x token's, so the request layer does not care which kind of token it was.

/// How Mercure 1.0 access tokens are checked, from the hub's configuration.
public struct AccessTokenRules: Sendable, Hashable {
    /// Trusted issuers: a token's `iss` must be one of them, exactly. Empty: `iss` is not
    /// checked (self-issued tokens verified with the hub's own keys, which the Mercure
    /// specification allows for a hub advertising no authorization server).
    public var issuers: [String] = []
    /// Most Mercure entries in `authorization_details`, and most topic matchers over all of
    /// them; more makes the token invalid (each matcher is compiled once per token).
    public var maxMatchers = 64
    /// Longest `match` value, in UTF-8 bytes.
    public var maxPatternLength = TopicSelector.maximumLength

    /// Longest token accepted, however it is sent (Mercure's limit).
    public static let maxTokenBytes = 64 * 1024
    /// The `authorization_details` entry type Mercure defines; entries of other types are
    /// ignored (they are for other resources).
    public static let detailType = "https://mercure.rocks/authorization-detail"
    /// The default name of the cookie that may carry an access token.
    public static let defaultCookieName = "__Secure-mercure_access_token"

    /// Rules with no trusted issuer configured and the default limits.
    public init(issuers: [String] = []) {
        self.issuers = issuers
    }

    /// Refuses a token longer than ``maxTokenBytes``, however it was sent.
    static func checkLength(_ token: String) throws(BearerError) {
        if token.utf8.count > maxTokenBytes {
            throw .invalidToken("token longer than \(maxTokenBytes / 1024) KiB")
        }
    }

    /// The refusal of a token that is not an access token, on a request that needs one.
    static func notAnAccessToken(typ: String?) -> BearerError {
        .invalidToken(typ.map { "token typ \"\($0)\" is not at+jwt" } ?? "not an access token (typ must be at+jwt)")
    }

    /// Whether a JOSE `typ` names a JWT access token: `at+jwt`, or its full media type
    /// `application/at+jwt` (RFC 9068 §4), compared case-insensitively like any media type.
    public static func isAccessTokenType(_ typ: String?) -> Bool {
        guard let typ = typ?.lowercased() else { return false }
        return typ == "at+jwt" || typ == "application/at+jwt"
    }
}

extension HeraldHTTPConfiguration {
    /// The rules 1.0 access tokens are verified with.
    package var accessTokenRules: AccessTokenRules {
        AccessTokenRules(issuers: issuers)
    }

    /// The `aud` an access token must carry on a request sent to `authority` (the request's
    /// `Host`) over `scheme`: `resourceIdentifier` when configured, else the hub's own URL as
    /// the client reached it (`https://example.com/.well-known/mercure`). Nil when neither is
    /// known (a request without a host): every access token is then refused.
    public func resourceIdentifier(scheme: String, authority: String?) -> String? {
        if let resourceIdentifier { return resourceIdentifier }
        guard let authority, !authority.isEmpty else { return nil }
        return "\(scheme.lowercased())://\(authority.lowercased())\(path)"
    }
}

/// Where a request's access token is, for Mercure 1.0 requests: `Authorization: Bearer`, else
/// the access-token cookie; never the query string (RFC 9700 forbids tokens in URLs).
public enum AccessTokenCredential {
    /// The token and where it came from (a cookie needs the origin check on publish), nil when
    /// the request carries none. A header always wins over the cookie, which is then ignored.
    ///
    /// Throws `invalid_request` for a malformed `Authorization` (several of them, another
    /// scheme, a value that is not a bearer token).
    static func find(in headers: HTTPFields, cookieName: String) throws(BearerError) -> (token: String, source: CredentialSource)? {
        let authorizations = headers[values: .authorization]
        if authorizations.count > 1 {
            throw .invalidRequest("more than one Authorization header")
        }
        if let authorization = authorizations.first {
            guard let token = bearerToken(authorization), isBearerTokenSyntax(token) else {
                throw .invalidRequest("Authorization must be \"Bearer <token>\"")
            }
            return (token, .header)
        }
        if let token = cookie(named: cookieName, in: headers), !token.isEmpty {
            return (token, .cookie)
        }
        return nil
    }

    /// The token of the request, as `find(in:cookieName:)` reads it; public for embedders
    /// checking credentials themselves.
    public static func token(in headers: HTTPFields, cookieName: String = AccessTokenRules.defaultCookieName) throws(BearerError) -> String? {
        try find(in: headers, cookieName: cookieName)?.token
    }

    /// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isBearerTokenSyntax(_ token: String) -> Bool {
        var sawPadding = false
        var count = 0
        for byte in token.utf8 {
            count += 1
            if byte == UInt8(ascii: "=") {
                sawPadding = true
                continue
            }
            if sawPadding { return false }
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                continue
            default:
                return false
            }
        }
        return count > 0 && token.utf8.first != UInt8(ascii: "=")
    }

    /// The value of the first cookie called `name` in the `Cookie` fields (RFC 6265 §4.2:
    /// `name=value` pairs separated by `;`), quotes around the value removed.
    static func cookie(named name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                guard trimmed(pair[..<equals]) == name else { continue }
                var value = trimmed(pair[pair.index(after: equals)...])
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                return String(value)
            }
        }
        return nil
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}

// MARK: - Verification

/// Verifies Mercure 1.0 access tokens against one of the hub's keys (the publisher key for
/// publishes, the subscriber key for subscriptions), turning each into a ``MercureGrant`` or an
/// RFC 6750 refusal. Grants that verified are remembered (bounded, see `VerifiedTokenCache`)
/// per audience, so a client reusing its token costs one dictionary lookup.
///
/// The request layer tells the two kinds of token apart with ``isAccessToken(_:)`` (the JOSE
/// header's `typ`): an access token goes here, any other JWT to the 0.x `TokenVerifier`, whose
/// claims become the same grant with `MercureGrant(claims:)`.
final class AccessTokenVerifier: Sendable {
    /// The key's collection, built on the first verification.
    private let keys: HeraldKeyRing
    /// The algorithm of the hub's key: a token whose header names another is refused.
    let algorithm: HeraldKey.Algorithm
    /// Trusted issuers and limits.
    let rules: AccessTokenRules
    /// Recently verified grants, with the audience each was checked for.
    let grants = VerifiedTokenCache<MercureGrant>()

    init(key: HeraldKey, rules: AccessTokenRules = AccessTokenRules()) {
        self.keys = HeraldKeyRing(key)
        self.algorithm = key.algorithm
        self.rules = rules
    }

    /// Whether `token` says it is a Mercure 1.0 access token (`typ: at+jwt` or
    /// `application/at+jwt`); false for 0.x JWTs (`typ: JWT` or none) and for anything that is
    /// not a JWT. Reads the header only; nothing is verified.
    static func isAccessToken(_ token: String) -> Bool {
        guard (try? AccessTokenRules.checkLength(token)) != nil, let header = try? header(of: token) else { return false }
        return AccessTokenRules.isAccessTokenType(header.typ)
    }

    /// The grant of a token that verified recently for the same audience and is still valid;
    /// nil otherwise. For the event-loop fast paths, which must not wait.
    func cachedGrant(_ token: String, audience: String?) -> MercureGrant? {
        grants.value(for: token, audience: audience)
    }

    /// Verifies a Mercure 1.0 access token for `audience` (the hub's resource identifier,
    /// ``HeraldHTTPConfiguration/resourceIdentifier(scheme:authority:)``) and returns what it
    /// grants, or why it is invalid (always `invalid_token`, 401).
    ///
    /// In order: at most 64 KiB; the header's `typ` is `at+jwt` and its `alg` the hub key's
    /// algorithm; the signature verifies with the key; `exp` is present and in the future;
    /// `nbf`, if present, is not in the future; `iss` is one of the trusted issuers (when any
    /// are configured); `aud` (a string or an array) contains `audience`;
    /// `authorization_details`, if present, is an array whose Mercure entries are all valid
    /// (one bad entry invalidates the token: no partial acceptance). `iat` is not required
    /// (RFC 9068 requires issuers to set it but gives resource servers no rule about it, and
    /// Mercure's own conformance token has none).
    func verify(_ token: String, audience: String?) async throws(BearerError) -> MercureGrant {
        if let cached = grants.value(for: token, audience: audience) { return cached }
        try AccessTokenRules.checkLength(token)
        let header = try Self.header(of: token)
        guard AccessTokenRules.isAccessTokenType(header.typ) else { throw AccessTokenRules.notAnAccessToken(typ: header.typ) }
        guard header.alg == algorithm.rawValue else {
            throw .invalidToken("token alg must be \(algorithm.rawValue)")
        }
        let keys: JWTKeyCollection
        do {
            keys = try await self.keys.keys()
        } catch {
            throw .invalidToken("the hub's key is invalid")
        }
        let claims: [String: JSONValue]
        do {
            claims = try await keys.verify(token, as: JSONClaims.self).fields
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalidToken("invalid token signature")
        } catch {
            throw .invalidToken("malformed token")
        }
        let (grant, validUntil) = try Self.grant(ofAccessTokenClaims: claims, audience: audience, rules: rules, now: Date())
        grants.remember(token, grant, audience: audience, validUntil: validUntil)
        return grant
    }

    /// The checks of ``verify(_:audience:)`` that follow the signature, on the
    /// decoded payload: the grant and its expiry, or why the token is invalid.
    static func grant(
        ofAccessTokenClaims claims: [String: JSONValue],
        audience: String?,
        rules: AccessTokenRules,
        now: Date
    ) throws(BearerError) -> (MercureGrant, Date) {
        guard let expValue = claims["exp"] else { throw .invalidToken("token has no exp") }
        guard case .number(let exp) = expValue, exp.isFinite else { throw .invalidToken("exp is not a number") }
        let expiresAt = Date(timeIntervalSince1970: exp)
        guard expiresAt > now else { throw .invalidToken("token expired") }
        if let nbfValue = claims["nbf"] {
            guard case .number(let nbf) = nbfValue, nbf.isFinite else { throw .invalidToken("nbf is not a number") }
            guard Date(timeIntervalSince1970: nbf) <= now else { throw .invalidToken("token not valid yet (nbf)") }
        }
        if let iat = claims["iat"] {
            guard case .number(let value) = iat, value.isFinite else { throw .invalidToken("iat is not a number") }
        }

        let issuer: String?
        switch claims["iss"] {
        case nil: issuer = nil
        case .string(let value): issuer = value
        default: throw .invalidToken("iss is not a string")
        }
        if !rules.issuers.isEmpty {
            guard let issuer else { throw .invalidToken("token has no iss") }
            guard rules.issuers.contains(where: { $0.utf8.elementsEqual(issuer.utf8) }) else {
                throw .invalidToken("untrusted issuer")
            }
        }

        guard let audience else { throw .invalidToken("the hub's resource identifier is unknown (no Host)") }
        let audiences: [String]
        switch claims["aud"] {
        case nil: throw .invalidToken("token has no aud")
        case .string(let value): audiences = [value]
        case .array(let values):
            var strings: [String] = []
            for value in values {
                guard case .string(let string) = value else { throw .invalidToken("aud is not a string or an array of strings") }
                strings.append(string)
            }
            audiences = strings
        default: throw .invalidToken("aud is not a string or an array of strings")
        }
        guard audiences.contains(where: { $0.utf8.elementsEqual(audience.utf8) }) else {
            throw .invalidToken("token audience is not this hub (\(audience))")
        }

        let subject: String?
        switch claims["sub"] {
        case nil: subject = nil
        case .string(let value): subject = value
        default: throw .invalidToken("sub is not a string")
        }

        var publish: [TopicSelector]?
        var subscribe: [MercureGrant.SubscribeDetail]?
        switch claims["authorization_details"] {
        case nil:
            break
        case .array(let entries):
            var mercureEntries = 0
            var matchers = 0
            for entry in entries {
                guard case .object(let fields) = entry else { throw .invalidToken("an authorization_details entry is not an object") }
                guard case .string(let type)? = fields["type"] else {
                    throw .invalidToken("an authorization_details entry has no type")
                }
                guard type == AccessTokenRules.detailType else { continue }  // another resource's
                mercureEntries += 1
                if mercureEntries > rules.maxMatchers {
                    throw .invalidToken("more than \(rules.maxMatchers) Mercure authorization details")
                }
                let detail = try MercureDetail(fields, rules: rules, baseURL: audience, matchersSoFar: &matchers)
                if detail.publish {
                    publish = (publish ?? []) + detail.selectors
                }
                if detail.subscribe {
                    subscribe = (subscribe ?? []) + [.init(selectors: detail.selectors, payload: detail.payload)]
                }
            }
        default:
            throw .invalidToken("authorization_details is not an array")
        }
        let grant = MercureGrant(kind: .accessToken, publish: publish, subscribeDetails: subscribe, subject: subject, expiresAt: expiresAt)
        return (grant, expiresAt)
    }

    /// The JOSE header of a compact JWS: its `typ` and `alg`, read before any key is used.
    static func header(of token: String) throws(BearerError) -> (typ: String?, alg: String?) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(parts[0]),
            let header = try? JSONDecoder().decode([String: JSONValue].self, from: data)
        else {
            throw .invalidToken("malformed token")
        }
        var typ: String?
        switch header["typ"] {
        case nil: typ = nil
        case .string(let value): typ = value
        default: throw .invalidToken("malformed token header")
        }
        guard case .string(let alg)? = header["alg"] else { throw .invalidToken("token header has no alg") }
        if typ?.isEmpty == true { typ = nil }
        return (typ, alg)
    }

    private static func base64URLDecode(_ text: Substring) -> Data? {
        var bytes = Array(text.utf8).map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: String(decoding: bytes, as: UTF8.self))
    }
}

/// One valid Mercure entry of `authorization_details`.
struct MercureDetail {
    var publish = false
    var subscribe = false
    var selectors: [TopicSelector] = []
    var payload: JSONValue?

    /// Validates an entry of type ``AccessTokenRules/detailType``: `actions` a non-empty array
    /// of `publish`/`subscribe`; `topics` a non-empty array of objects `{match, match_type?}`
    /// (`match` a non-empty string; `match_type` `exact` (the default) or `urlpattern`,
    /// case-sensitive; `*` matches every topic whatever the type; a bare string is refused);
    /// `payload` any JSON value.
    /// `baseURL` (the hub's resource identifier) resolves relative URL patterns.
    init(_ fields: [String: JSONValue], rules: AccessTokenRules, baseURL: String, matchersSoFar: inout Int) throws(BearerError) {
        guard case .array(let actions)? = fields["actions"], !actions.isEmpty else {
            throw .invalidToken("a Mercure authorization detail needs a non-empty actions array")
        }
        for action in actions {
            switch action {
            case .string("publish"): publish = true
            case .string("subscribe"): subscribe = true
            case .string(let other): throw .invalidToken("unknown action \"\(other)\"")
            default: throw .invalidToken("an action is not a string")
            }
        }
        guard case .array(let topics)? = fields["topics"], !topics.isEmpty else {
            throw .invalidToken("a Mercure authorization detail needs a non-empty topics array")
        }
        matchersSoFar += topics.count
        if matchersSoFar > rules.maxMatchers {
            throw .invalidToken("more than \(rules.maxMatchers) topic matchers in the token")
        }
        for topic in topics {
            guard case .object(let matcher) = topic else {
                throw .invalidToken("topics entries must be objects {\"match\": ...} (bare strings are the 0.x form)")
            }
            guard case .string(let match)? = matcher["match"] else {
                throw .invalidToken("a topic matcher needs a match string")
            }
            let type: String
            switch matcher["match_type"] {
            case nil: type = "exact"
            case .string(let value): type = value
            default: throw .invalidToken("match_type is not a string")
            }
            selectors.append(try Self.selector(match, type: type, baseURL: baseURL, maxLength: rules.maxPatternLength))
        }
        payload = fields["payload"]
    }

    /// The selector of one topic matcher: `*` is every topic whatever the type; otherwise
    /// the selector's own rules apply (not empty, at most `maxLength` bytes, a valid pattern).
    static func selector(_ match: String, type: String, baseURL: String, maxLength: Int) throws(BearerError) -> TopicSelector {
        if match == "*" { return .wildcard }
        let syntax: TopicSelector.Syntax
        switch type {
        case "exact": syntax = .exact
        case "urlpattern": syntax = .urlPattern
        default: throw .invalidToken("unknown match_type \"\(type)\" (exact or urlpattern)")
        }
        do {
            return try TopicSelector(match, syntax: syntax, baseURL: baseURL, maxLength: maxLength)
        } catch {
            throw .invalidToken("bad topic matcher: \(error.reason)")
        }
    }
}

/// A JWT payload read as plain JSON, so every claim is checked by Herald's own rules (above)
/// rather than failing inside the JWT library with a less precise reason.
struct JSONClaims: JWTPayload {
    var fields: [String: JSONValue]

    init(fields: [String: JSONValue]) {
        self.fields = fields
    }

    init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(fields)
    }

    /// Claims are checked after decoding (``AccessTokenVerifier/grant(ofAccessTokenClaims:audience:rules:now:)``).
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

// MARK: - Minting

/// A Mercure 1.0 access token to sign, e.g. with `herald token --access-token`: the RFC 9068
/// claims and Mercure `authorization_details`.
public struct MercureAccessToken: Sendable, Hashable {
    /// How a granted `match` is compared with topics.
    public enum MatchType: String, Sendable, Hashable {
        /// Byte-for-byte (the default); `*` matches every topic.
        case exact
        /// A WHATWG URL Pattern.
        case urlpattern
    }

    /// A `{match, match_type}` object.
    public struct Matcher: Sendable, Hashable {
        public var match: String
        public var type: MatchType
        public init(_ match: String, type: MatchType = .exact) {
            self.match = match
            self.type = type
        }
    }

    /// `iss`.
    public var issuer: String?
    /// `aud`: the resource identifiers of the hubs the token is for.
    public var audience: [String]
    /// `sub`.
    public var subject: String?
    /// `exp`.
    public var expiresAt: Date
    /// `iat` (default: now).
    public var issuedAt = Date()
    /// `jti` (default: a random UUID URN).
    public var id = "urn:uuid:" + UUID().uuidString.lowercased()
    /// Topics the bearer may publish to.
    public var publish: [Matcher] = []
    /// Topics whose private updates the bearer may receive.
    public var subscribe: [Matcher] = []
    /// The `payload` of the subscribe detail.
    public var payload: JSONValue?

    /// Creates a token description.
    public init(issuer: String?, audience: [String], subject: String? = nil, expiresAt: Date) {
        self.issuer = issuer
        self.audience = audience
        self.subject = subject
        self.expiresAt = expiresAt
    }

    /// The JWT claims.
    var claims: [String: JSONValue] {
        var claims: [String: JSONValue] = [
            "exp": .number(expiresAt.timeIntervalSince1970.rounded(.down)),
            "iat": .number(issuedAt.timeIntervalSince1970.rounded(.down)),
            "jti": .string(id),
        ]
        if let issuer {
            claims["iss"] = .string(issuer)
            claims["client_id"] = .string(issuer)
        }
        if !audience.isEmpty {
            claims["aud"] = audience.count == 1 ? .string(audience[0]) : .array(audience.map(JSONValue.string))
        }
        if let subject { claims["sub"] = .string(subject) }
        var details: [JSONValue] = []
        func topics(_ matchers: [Matcher]) -> JSONValue {
            .array(
                matchers.map { matcher in
                    var object: [String: JSONValue] = ["match": .string(matcher.match)]
                    if matcher.type != .exact { object["match_type"] = .string(matcher.type.rawValue) }
                    return .object(object)
                }
            )
        }
        if !publish.isEmpty {
            details.append(
                .object(["type": .string(AccessTokenRules.detailType), "actions": .array([.string("publish")]), "topics": topics(publish)])
            )
        }
        if !subscribe.isEmpty {
            var detail: [String: JSONValue] = [
                "type": .string(AccessTokenRules.detailType), "actions": .array([.string("subscribe")]), "topics": topics(subscribe),
            ]
            if let payload { detail["payload"] = payload }
            details.append(.object(detail))
        }
        if !details.isEmpty { claims["authorization_details"] = .array(details) }
        return claims
    }
}

extension HeraldKey {
    /// Signs a Mercure 1.0 access token (header `typ: at+jwt`) with this key (HS256 secrets only).
    public func sign(_ token: MercureAccessToken) async throws -> String {
        guard algorithm == .hs256 else { throw HeraldKeyError("only HS256 keys can sign") }
        try validate()
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: material), digestAlgorithm: .sha256)
        var header = JWTHeader()
        header.typ = "at+jwt"
        header.alg = algorithm.rawValue
        return try await keys.sign(JSONClaims(fields: token.claims), header: header)
    }
}
