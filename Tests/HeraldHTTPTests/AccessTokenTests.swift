import HTTPTypes
import HeraldClient
import HeraldHub
import HeraldTestSupport
import JWTKit
import NIOCore
import NIOHTTP1
import Testing

@testable import HeraldHTTP

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Every Mercure 1.0 access-token rule (issue 13, item 2 token side and item 5): RFC 9068
/// verification, `authorization_details`, RFC 6750 answers, token sources, and the grant both
/// token kinds produce.
@Suite struct AccessTokenTests {
    /// The conformance suite's key, issuer and resource identifier.
    static let secret = "!ChangeThisMercureHubJWTSecretKey!"
    static let issuer = "https://localhost"
    static let audience = "https://localhost/.well-known/mercure"
    /// The token of the Mercure repository's 1.0 conformance test (publish and subscribe `*`).
    static let conformanceToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJhdWQiOiJodHRwczovL2xvY2FsaG9zdC8ud2VsbC1rbm93bi9tZXJjdXJlIiwiaXNzIjoiaHR0cHM6Ly9sb2NhbGhvc3QiLCJhdXRob3JpemF0aW9uX2RldGFpbHMiOlt7InR5cGUiOiJodHRwczovL21lcmN1cmUucm9ja3MvYXV0aG9yaXphdGlvbi1kZXRhaWwiLCJhY3Rpb25zIjpbInB1Ymxpc2giXSwidG9waWNzIjpbeyJtYXRjaCI6IioifV19LHsidHlwZSI6Imh0dHBzOi8vbWVyY3VyZS5yb2Nrcy9hdXRob3JpemF0aW9uLWRldGFpbCIsImFjdGlvbnMiOlsic3Vic2NyaWJlIl0sInRvcGljcyI6W3sibWF0Y2giOiIqIn1dfV0sImV4cCI6NDEwMjQ0NDgwMH0.z_S8IP5WZsCK8h3pcq0PB5zvJE0OdTrGA70khAYJQy4"
    static let detailType = AccessTokenRules.detailType

    static func verifier(issuers: [String] = [issuer], secret: String = secret) -> AccessTokenVerifier {
        AccessTokenVerifier(key: HeraldKey(secret), rules: AccessTokenRules(issuers: issuers))
    }

    /// An endpoint with the conformance key as publisher key, for the both-kinds entry point.
    /// The grant the protocol core's authority gives `token` (both kinds of token, one seam).
    static func authorityGrant(_ token: String, role: HubRole = .publisher, accessTokensOnly: Bool = false)
        async throws(Refusal) -> HubGrant
    {
        let authority = MercureTokenAuthority(configuration: configuration(), hub: Hub())
        let credentials = HubCredentials(token: token, source: .header, audience: audience, accessTokensOnly: accessTokensOnly)
        return try await authority.grant(credentials, for: role)
    }

    /// The authority's refusal of `token` (nil when it grants something).
    static func authorityRefusal(_ token: String, role: HubRole = .publisher, accessTokensOnly: Bool = false) async -> Refusal? {
        do {
            _ = try await authorityGrant(token, role: role, accessTokensOnly: accessTokensOnly)
            return nil
        } catch {
            return error
        }
    }

    /// A detail granting `actions` on `topics` (raw JSON values, so bad shapes can be tested).
    static func detail(_ actions: [String], _ topics: [JSONValue], type: String = detailType, payload: JSONValue? = nil) -> JSONValue {
        var object: [String: JSONValue] = [
            "type": .string(type), "actions": .array(actions.map(JSONValue.string)), "topics": .array(topics),
        ]
        if let payload { object["payload"] = payload }
        return .object(object)
    }

    static func match(_ match: String, type: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["match": .string(match)]
        if let type { object["match_type"] = .string(type) }
        return .object(object)
    }

    /// Valid claims: trusted issuer, this hub's audience, an hour to live, publish `*`.
    static func claims(_ changes: (inout [String: JSONValue]) -> Void = { _ in }) -> [String: JSONValue] {
        var claims: [String: JSONValue] = [
            "iss": .string(issuer),
            "aud": .string(audience),
            "exp": .number(Date().addingTimeInterval(3600).timeIntervalSince1970.rounded()),
            "iat": .number(Date().timeIntervalSince1970.rounded()),
            "sub": .string("https://example.com/users/1"),
            "authorization_details": .array([detail(["publish"], [match("*")])]),
        ]
        changes(&claims)
        return claims
    }

    /// A compact JWS with exactly this header and payload, signed with HS256 and `secret`
    /// (built by hand so that `typ` can be missing or anything).
    static func token(header: [String: JSONValue]? = nil, claims: [String: JSONValue] = claims(), secret: String = secret) async throws
        -> String
    {
        let header = header ?? ["alg": .string("HS256"), "typ": .string("at+jwt")]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let signingInput = base64URL(try encoder.encode(header)) + "." + base64URL(try encoder.encode(claims))
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let signature = try await keys.getKey().sign(Array(signingInput.utf8))
        return signingInput + "." + base64URL(Data(signature))
    }

    static func base64URL(_ data: Data) -> String {
        String(
            data.base64EncodedString().compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            }
        )
    }

    /// The refusal a verification throws (nil when it verified).
    static func refusal(_ token: String, verifier: AccessTokenVerifier = verifier(), audience: String? = audience) async -> BearerError? {
        do {
            _ = try await verifier.verify(token, audience: audience)
            return nil
        } catch {
            return error
        }
    }

    // MARK: the conformance token and the grant

    @Test func conformanceTokenGrantsPublishAndSubscribeEverywhere() async throws {
        let grant = try await Self.verifier().verify(Self.conformanceToken, audience: Self.audience)
        #expect(grant.kind == .accessToken)
        #expect(grant.publish == [.wildcard])
        #expect(grant.subscribe == [.wildcard])
        #expect(grant.mayPublish(to: ["any", "https://example.com/books/1"]))
        #expect(grant.mayReceive(privateUpdateWith: ["whatever"]))
        #expect(grant.expiresAt == Date(timeIntervalSince1970: 4_102_444_800))
        // The same token through the single entry point, as a 1.0-only request would ask.
        let same = try await Self.authorityGrant(Self.conformanceToken, accessTokensOnly: true)
        #expect(same.publish == grant.publish)
        #expect(same.subscribe == grant.subscribe ?? [])
    }

    @Test func grantOfALegacyTokenIsTheSameModel() async throws {
        let claims = MercureClaims(
            exp: .init(value: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 600).rounded(.down))),
            sub: .init(value: "alice"),
            mercure: .init(publish: ["https://example.com/books/{id}"], subscribe: ["*"], payload: .object(["user": .string("alice")]))
        )
        let token = try await HeraldKey(Self.secret).sign(claims)
        let grant = MercureGrant(claims: claims)
        let viaAuthority = try await Self.authorityGrant(token)
        #expect(viaAuthority.publish?.map(\.rawValue) == grant.publish?.map(\.rawValue))
        #expect(viaAuthority.expiresAt == grant.expiresAt)
        #expect(grant.kind == .legacy)
        #expect(grant.subject == "alice")
        #expect(grant.mayPublish(to: ["https://example.com/books/1"]))
        #expect(!grant.mayPublish(to: ["https://example.com/books/1", "https://example.com/authors/1"]))
        #expect(grant.firstTopicNotPublishable(["https://example.com/books/1", "other"]) == "other")
        #expect(grant.payload(forSubscription: try TopicSelector("anything")) == .object(["user": .string("alice")]))
        // A 1.0 request refuses it: Mercure 1.0 accepts only at+jwt tokens.
        let legacyOn1 = await Self.authorityRefusal(token, accessTokensOnly: true)
        #expect(legacyOn1?.status == .unauthorized)
        #expect(legacyOn1?.reason == "token typ \"JWT\" is not at+jwt")
        #expect(legacyOn1?.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
        // No key for the role: every token is invalid.
        let noKey = await Self.authorityRefusal(Self.conformanceToken, role: .subscriber)
        #expect(noKey?.status == .unauthorized)
        #expect(noKey?.reason == "no key to verify the token")
        // A 0.x token without any claim grants nothing (publish nil: 403, not 200).
        let empty = MercureGrant(claims: MercureClaims(mercure: nil))
        #expect(empty.publish == nil && empty.subscribe == nil)
        #expect(!empty.mayPublish(to: ["t"]))
        #expect(!empty.mayReceive(privateUpdateWith: ["t"]))
    }

    @Test func mintedAccessTokenRoundTrips() async throws {
        var minted = MercureAccessToken(
            issuer: Self.issuer,
            audience: [Self.audience, "https://other.example/.well-known/mercure"],
            subject: "bob",
            expiresAt: Date().addingTimeInterval(60)
        )
        minted.publish = [.init("https://example.com/a")]
        minted.subscribe = [.init("https://example.com/b"), .init("*")]
        minted.payload = .object(["name": .string("bob")])
        let token = try await HeraldKey(Self.secret).sign(minted)
        #expect(try AccessTokenVerifier.header(of: token).typ == "at+jwt")
        #expect(AccessTokenVerifier.isAccessToken(token))
        #expect(!AccessTokenVerifier.isAccessToken(try await HeraldKey(Self.secret).sign(MercureClaims(mercure: nil))))
        #expect(!AccessTokenVerifier.isAccessToken("not a jwt"))
        let grant = try await Self.verifier().verify(token, audience: Self.audience)
        #expect(grant.subject == "bob")
        #expect(grant.mayPublish(to: ["https://example.com/a"]))
        #expect(!grant.mayPublish(to: ["https://example.com/b"]))
        #expect(grant.subscribeDetails?.count == 1)
        #expect(grant.payload(forSubscription: try TopicSelector("https://example.com/zzz")) == .object(["name": .string("bob")]))
    }

    @Test func payloadComesFromTheFirstMatchingSubscribeDetail() async throws {
        let token = try await Self.token(
            claims: Self.claims {
                $0["authorization_details"] = .array([
                    Self.detail(["subscribe"], [Self.match("https://example.com/foo")], payload: .string("foo")),
                    Self.detail(["subscribe"], [Self.match("*")], payload: .string("default")),
                    Self.detail(["subscribe"], [Self.match("https://example.com/bar")], payload: .string("masked")),
                ])
            }
        )
        let grant = try await Self.verifier().verify(token, audience: Self.audience)
        #expect(grant.publish == nil)
        #expect(grant.payload(forSubscription: try TopicSelector("https://example.com/foo")) == .string("foo"))
        #expect(grant.payload(forSubscription: try TopicSelector("https://example.com/bar")) == .string("default"))
        #expect(grant.payload == nil)
    }

    // MARK: header: typ and alg

    @Test func typMustBeAtJwt() async throws {
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
            let token = try await Self.token(header: ["alg": .string("HS256"), "typ": .string(typ)])
            #expect(await Self.refusal(token) == nil, "typ \(typ)")
        }
        for typ in ["JWT", "jwt", "at+jwt2", "application/jwt", ""] {
            let token = try await Self.token(header: ["alg": .string("HS256"), "typ": .string(typ)])
            let refusal = await Self.refusal(token)
            #expect(refusal?.code == .invalidToken, "typ \(typ)")
            #expect(refusal?.status == .unauthorized)
        }
        let missing = try await Self.token(header: ["alg": .string("HS256")])
        #expect(await Self.refusal(missing) == .invalidToken("not an access token (typ must be at+jwt)"))
        let notAString = try await Self.token(header: ["alg": .string("HS256"), "typ": .number(1)])
        #expect(await Self.refusal(notAString)?.code == .invalidToken)
    }

    @Test func algMustBeTheKeysAlgorithm() async throws {
        for alg in ["none", "HS384", "RS256"] {
            let token = try await Self.token(header: ["alg": .string(alg), "typ": .string("at+jwt")])
            #expect(await Self.refusal(token) == .invalidToken("token alg must be HS256"), "alg \(alg)")
        }
        let unsigned = try await Self.token(header: ["typ": .string("at+jwt")])
        #expect(await Self.refusal(unsigned) == .invalidToken("token header has no alg"))
    }

    @Test func badSignatureAndMalformedTokens() async throws {
        let otherKey = try await Self.token(secret: "another-secret-another-secret-another-1")
        #expect(await Self.refusal(otherKey) == .invalidToken("invalid token signature"))
        let valid = try await Self.token()
        let tampered = String(valid.dropLast(2)) + (valid.hasSuffix("AA") ? "BB" : "AA")
        #expect(await Self.refusal(tampered)?.code == .invalidToken)
        for malformed in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30"] {
            #expect(await Self.refusal(malformed) == .invalidToken("malformed token"), "\(malformed)")
        }
        let huge = String(repeating: "a", count: AccessTokenRules.maxTokenBytes + 1)
        #expect(await Self.refusal(huge) == .invalidToken("token longer than 64 KiB"))
        #expect(await Self.authorityRefusal(huge)?.reason == "token longer than 64 KiB")
    }

    // MARK: claims

    @Test func issuerMustBeTrusted() async throws {
        let wrong = try await Self.token(claims: Self.claims { $0["iss"] = .string("https://evil.example") })
        #expect(await Self.refusal(wrong) == .invalidToken("untrusted issuer"))
        let prefix = try await Self.token(claims: Self.claims { $0["iss"] = .string("https://localhost/") })
        #expect(await Self.refusal(prefix) == .invalidToken("untrusted issuer"))
        let missing = try await Self.token(claims: Self.claims { $0["iss"] = nil })
        #expect(await Self.refusal(missing) == .invalidToken("token has no iss"))
        let notAString = try await Self.token(claims: Self.claims { $0["iss"] = .array([.string(Self.issuer)]) })
        #expect(await Self.refusal(notAString) == .invalidToken("iss is not a string"))
        // Several trusted issuers: any one of them.
        let second = try await Self.token(claims: Self.claims { $0["iss"] = .string("https://idp.example") })
        #expect(await Self.refusal(second, verifier: Self.verifier(issuers: [Self.issuer, "https://idp.example"])) == nil)
        // No issuer configured: iss is not checked (self-issued tokens).
        #expect(await Self.refusal(wrong, verifier: Self.verifier(issuers: [])) == nil)
        #expect(await Self.refusal(missing, verifier: Self.verifier(issuers: [])) == nil)
    }

    @Test func audienceMustBeThisHub() async throws {
        let wrong = try await Self.token(claims: Self.claims { $0["aud"] = .string("https://other.example/.well-known/mercure") })
        #expect(await Self.refusal(wrong)?.code == .invalidToken)
        #expect(await Self.refusal(wrong) == .invalidToken("token audience is not this hub (\(Self.audience))"))
        let inArray = try await Self.token(claims: Self.claims { $0["aud"] = .array([.string("https://a.example"), .string(Self.audience)]) })
        #expect(await Self.refusal(inArray) == nil)
        let notInArray = try await Self.token(claims: Self.claims { $0["aud"] = .array([.string("https://a.example")]) })
        #expect(await Self.refusal(notInArray)?.code == .invalidToken)
        let missing = try await Self.token(claims: Self.claims { $0["aud"] = nil })
        #expect(await Self.refusal(missing) == .invalidToken("token has no aud"))
        let number = try await Self.token(claims: Self.claims { $0["aud"] = .number(1) })
        #expect(await Self.refusal(number)?.code == .invalidToken)
        let mixed = try await Self.token(claims: Self.claims { $0["aud"] = .array([.string(Self.audience), .number(1)]) })
        #expect(await Self.refusal(mixed)?.code == .invalidToken)
        // Case and trailing slash matter: the comparison is exact.
        let slash = try await Self.token(claims: Self.claims { $0["aud"] = .string(Self.audience + "/") })
        #expect(await Self.refusal(slash)?.code == .invalidToken)
        // A hub that cannot name itself (no configured identifier, no Host) refuses every token.
        #expect(await Self.refusal(try await Self.token(), audience: nil)?.code == .invalidToken)
    }

    @Test func resourceIdentifierIsConfiguredOrDerivedFromTheRequest() {
        var configuration = HeraldHTTPConfiguration()
        #expect(configuration.resourceIdentifier(scheme: "https", authority: "Hub.Example.com") == "https://hub.example.com/.well-known/mercure")
        #expect(configuration.resourceIdentifier(scheme: "http", authority: "127.0.0.1:8080") == "http://127.0.0.1:8080/.well-known/mercure")
        #expect(configuration.resourceIdentifier(scheme: "http", authority: nil) == nil)
        #expect(configuration.resourceIdentifier(scheme: "http", authority: "") == nil)
        configuration.resourceIdentifier = Self.audience
        #expect(configuration.resourceIdentifier(scheme: "http", authority: "127.0.0.1:8080") == Self.audience)
        #expect(configuration.resourceIdentifier(scheme: "http", authority: nil) == Self.audience)
    }

    @Test func expIsRequiredAndEnforced() async throws {
        let missing = try await Self.token(claims: Self.claims { $0["exp"] = nil })
        #expect(await Self.refusal(missing) == .invalidToken("token has no exp"))
        let expired = try await Self.token(claims: Self.claims { $0["exp"] = .number(Date().timeIntervalSince1970.rounded() - 5) })
        #expect(await Self.refusal(expired) == .invalidToken("token expired"))
        let text = try await Self.token(claims: Self.claims { $0["exp"] = .string("4102444800") })
        #expect(await Self.refusal(text) == .invalidToken("exp is not a number"))
    }

    @Test func nbfAndIat() async throws {
        let early = try await Self.token(claims: Self.claims { $0["nbf"] = .number(Date().timeIntervalSince1970.rounded() + 600) })
        #expect(await Self.refusal(early) == .invalidToken("token not valid yet (nbf)"))
        let started = try await Self.token(claims: Self.claims { $0["nbf"] = .number(Date().timeIntervalSince1970.rounded() - 600) })
        #expect(await Self.refusal(started) == nil)
        let badNbf = try await Self.token(claims: Self.claims { $0["nbf"] = .string("soon") })
        #expect(await Self.refusal(badNbf) == .invalidToken("nbf is not a number"))
        // iat is optional (the conformance token has none) but must be a number when present.
        let noIat = try await Self.token(claims: Self.claims { $0["iat"] = nil })
        #expect(await Self.refusal(noIat) == nil)
        let badIat = try await Self.token(claims: Self.claims { $0["iat"] = .bool(true) })
        #expect(await Self.refusal(badIat) == .invalidToken("iat is not a number"))
    }

    // MARK: authorization_details

    static func details(_ entries: [JSONValue]) async throws -> String {
        try await token(claims: claims { $0["authorization_details"] = .array(entries) })
    }

    @Test func bareStringTopicsAreRefused() async throws {
        let token = try await Self.details([Self.detail(["publish"], [.string("*")])])
        #expect(
            await Self.refusal(token)
                == .invalidToken("topics entries must be objects {\"match\": ...} (bare strings are the 0.x form)")
        )
        // One bad entry rejects the whole token, even beside a good one (no partial acceptance).
        let mixed = try await Self.details([
            Self.detail(["publish"], [Self.match("*")]),
            Self.detail(["subscribe"], [Self.match("a"), .string("b")]),
        ])
        #expect(await Self.refusal(mixed)?.code == .invalidToken)
    }

    @Test func otherDetailTypesAreIgnored() async throws {
        // RFC 9396: entries for other resources are not the hub's business; they grant nothing here.
        let token = try await Self.details([
            .object(["type": .string("payment_initiation"), "actions": .string("whatever"), "topics": .string("not checked")]),
            Self.detail(["publish"], [Self.match("*")], type: "mercure"),
            Self.detail(["publish"], [Self.match("*")], type: "https://mercure.rocks/authorization-detail/"),
        ])
        let grant = try await Self.verifier().verify(token, audience: Self.audience)
        #expect(grant.publish == nil)
        #expect(grant.subscribe == nil)
        #expect(!grant.mayPublish(to: ["t"]))
        // No authorization_details at all: a valid token granting nothing.
        let none = try await Self.token(claims: Self.claims { $0["authorization_details"] = nil })
        #expect(try await Self.verifier().verify(none, audience: Self.audience).publish == nil)
        // But an entry must still be an object with a string type.
        #expect(await Self.refusal(try await Self.details([.string("x")]))?.code == .invalidToken)
        #expect(await Self.refusal(try await Self.details([.object(["actions": .array([])])]))?.code == .invalidToken)
        let notArray = try await Self.token(claims: Self.claims { $0["authorization_details"] = .object([:]) })
        #expect(await Self.refusal(notArray) == .invalidToken("authorization_details is not an array"))
    }

    @Test func actionsMustBePublishOrSubscribe() async throws {
        #expect(await Self.refusal(try await Self.details([Self.detail(["read"], [Self.match("*")])])) == .invalidToken("unknown action \"read\""))
        #expect(await Self.refusal(try await Self.details([Self.detail(["Publish"], [Self.match("*")])]))?.code == .invalidToken)
        #expect(await Self.refusal(try await Self.details([Self.detail(["publish", "delete"], [Self.match("*")])]))?.code == .invalidToken)
        #expect(await Self.refusal(try await Self.details([Self.detail([], [Self.match("*")])]))?.code == .invalidToken)
        let numeric = JSONValue.object(["type": .string(Self.detailType), "actions": .array([.number(1)]), "topics": .array([Self.match("*")])])
        #expect(await Self.refusal(try await Self.details([numeric])) == .invalidToken("an action is not a string"))
        let noActions = JSONValue.object(["type": .string(Self.detailType), "topics": .array([Self.match("*")])])
        #expect(await Self.refusal(try await Self.details([noActions]))?.code == .invalidToken)
        // Both actions in one detail grant both.
        let both = try await Self.verifier().verify(
            try await Self.details([Self.detail(["publish", "subscribe"], [Self.match("t")])]),
            audience: Self.audience
        )
        #expect(both.mayPublish(to: ["t"]) && both.mayReceive(privateUpdateWith: ["t"]))
        #expect(!both.mayPublish(to: ["u"]) && !both.mayReceive(privateUpdateWith: ["u"]))
    }

    @Test func topicMatchersMustBeWellFormed() async throws {
        let cases: [(JSONValue, String)] = [
            (.object(["match_type": .string("exact")]), "no match"),
            (.object(["match": .string("")]), "empty match"),
            (.object(["match": .number(1)]), "numeric match"),
            (.object(["match": .null]), "null match"),
            (.null, "null entry"),
            (Self.match("a", type: "Exact"), "match_type is case-sensitive"),
            (Self.match("a", type: "uritemplate"), "unknown match_type"),
            (.object(["match": .string("a"), "match_type": .number(1)]), "numeric match_type"),
            (Self.match(String(repeating: "a", count: TopicSelector.maximumLength + 1)), "too long"),
        ]
        for (matcher, name) in cases {
            let refusal = await Self.refusal(try await Self.details([Self.detail(["publish"], [matcher])]))
            #expect(refusal?.code == .invalidToken, "\(name)")
        }
        #expect(
            await Self.refusal(try await Self.details([Self.detail(["publish"], [Self.match("a", type: "Exact")])]))
                == .invalidToken("unknown match_type \"Exact\" (exact or urlpattern)")
        )
        #expect(await Self.refusal(try await Self.details([Self.detail(["publish"], [])]))?.code == .invalidToken)
        // `*` is every topic whatever the type; exact is the default and explicit.
        for matcher in [Self.match("*"), Self.match("*", type: "exact"), Self.match("*", type: "urlpattern")] {
            let grant = try await Self.verifier().verify(try await Self.details([Self.detail(["publish"], [matcher])]), audience: Self.audience)
            #expect(grant.publish == [.wildcard])
        }
        let exact = try await Self.verifier().verify(
            try await Self.details([Self.detail(["publish"], [Self.match("https://example.com/a", type: "exact")])]),
            audience: Self.audience
        )
        #expect(exact.mayPublish(to: ["https://example.com/a"]))
        #expect(!exact.mayPublish(to: ["https://example.com/b"]))
    }

    @Test func matchTypesGiveTheSelectorKinds() async throws {
        let token = try await Self.details([
            Self.detail(
                ["publish"],
                [
                    Self.match("https://example.com/books/:id", type: "urlpattern"),
                    Self.match("https://example.com/a{b}"),
                    Self.match("/.well-known/mercure/subscriptions/:type/:match", type: "urlpattern"),
                ]
            )
        ])
        let grant = try await Self.verifier().verify(token, audience: Self.audience)
        #expect(grant.publish?.map(\.kind) == [.urlPattern, .exact, .urlPattern])
        #expect(grant.mayPublish(to: ["https://example.com/books/1"]))
        #expect(!grant.mayPublish(to: ["https://example.com/books/1/2"]))
        #expect(!grant.mayPublish(to: ["https://example.com/authors/1"]))
        // Exact is exact: braces are characters, not a URI template.
        #expect(grant.mayPublish(to: ["https://example.com/a{b}"]))
        #expect(!grant.mayPublish(to: ["https://example.com/ab"]))
        #expect(!grant.mayPublish(to: ["https://example.com/a"]))
        // A relative pattern is resolved against the hub's resource identifier.
        #expect(grant.mayPublish(to: ["https://localhost/.well-known/mercure/subscriptions/exact/x"]))
        // A pattern that does not compile invalidates the token.
        let bad = try await Self.details([Self.detail(["subscribe"], [Self.match("https://example.com/(", type: "urlpattern")])])
        let refusal = await Self.refusal(bad)
        #expect(refusal?.code == .invalidToken)
        #expect(refusal?.reason.hasPrefix("bad topic matcher: invalid URL pattern") == true)
    }

    @Test func matcherCountIsBounded() async throws {
        let many = (0...AccessTokenRules().maxMatchers).map { Self.match("topic-\($0)") }
        #expect(await Self.refusal(try await Self.details([Self.detail(["publish"], many)]))?.code == .invalidToken)
        // Spread over several details, the total counts.
        let half = (0..<(AccessTokenRules().maxMatchers / 2 + 1)).map { Self.match("t\($0)") }
        let spread = try await Self.details([Self.detail(["publish"], half), Self.detail(["subscribe"], half)])
        #expect(await Self.refusal(spread) == .invalidToken("more than 64 topic matchers in the token"))
        let exactly = (0..<AccessTokenRules().maxMatchers).map { Self.match("t\($0)") }
        #expect(await Self.refusal(try await Self.details([Self.detail(["publish"], exactly)])) == nil)
    }

    // MARK: cache

    @Test func verifiedGrantsAreCachedPerAudience() async throws {
        let verifier = Self.verifier()
        let token = try await Self.token()
        #expect(verifier.cachedGrant(token, audience: Self.audience) == nil)
        let grant = try await verifier.verify(token, audience: Self.audience)
        #expect(verifier.cachedGrant(token, audience: Self.audience) == grant)
        #expect(verifier.grants.count == 1)
        // Another audience is not a hit, and the token does not verify for it.
        #expect(verifier.cachedGrant(token, audience: "https://other.example/.well-known/mercure") == nil)
        await #expect(throws: BearerError.self) {
            try await verifier.verify(token, audience: "https://other.example/.well-known/mercure")
        }
        // Failures are not cached.
        #expect(verifier.grants.count == 1)
    }

    @Test func cacheIsBounded() {
        let cache = VerifiedTokenCache<Int>(limit: 4, lifetime: 60)
        for index in 0..<10 { cache.remember("t\(index)", index, audience: nil, validUntil: nil) }
        #expect(cache.count <= 4)
        #expect(cache.value(for: "t9", audience: nil) == 9)
        cache.remember("old", 1, audience: nil, validUntil: Date().addingTimeInterval(-1))
        #expect(cache.value(for: "old", audience: nil) == nil)
    }

    // MARK: RFC 6750 answers and token sources

    @Test func bearerErrorsCarryStatusAndChallenge() {
        let cases: [(BearerError, HTTPResponse.Status, String)] = [
            (.missingToken(), .unauthorized, "Bearer"),
            (.invalidToken("token expired"), .unauthorized, #"Bearer error="invalid_token", error_description="token expired""#),
            (.insufficientScope("not allowed"), .forbidden, #"Bearer error="insufficient_scope", error_description="not allowed""#),
            (.invalidRequest("bad"), .badRequest, #"Bearer error="invalid_request", error_description="bad""#),
        ]
        for (error, status, challenge) in cases {
            #expect(error.status == status)
            #expect(error.wwwAuthenticate == challenge)
            let refusal = error.refusal
            #expect(refusal.status == status)
            #expect(refusal.headers[.wwwAuthenticate] == challenge)
            #expect(refusal.reason == error.reason)
        }
        // A reason can never break out of the quoted string or the header line.
        let hostile = BearerError.invalidToken("a\"b\\c\r\nSet-Cookie: x=y é")
        #expect(hostile.wwwAuthenticate == #"Bearer error="invalid_token", error_description="a?b?c??Set-Cookie: x=y ??""#)
    }

    @Test func tokenSources() throws {
        let cookieName = AccessTokenRules.defaultCookieName
        var both = HTTPFields()
        both[.authorization] = "Bearer header.token.value"
        both[.cookie] = "a=b; \(cookieName)=cookie.token.value"
        let fromHeader = try AccessTokenCredential.find(in: both, cookieName: cookieName)
        #expect(fromHeader?.token == "header.token.value")
        #expect(fromHeader?.source == .header)

        var cookieOnly = HTTPFields()
        cookieOnly[.cookie] = "a=b; \(cookieName)=cookie.token.value; c=d"
        let fromCookie = try AccessTokenCredential.find(in: cookieOnly, cookieName: cookieName)
        #expect(fromCookie?.token == "cookie.token.value")
        #expect(fromCookie?.source == .cookie)
        // The cookie name is configurable, and the 0.x cookie is not a 1.0 source.
        #expect(try AccessTokenCredential.token(in: cookieOnly, cookieName: "other") == nil)
        var legacy = HTTPFields()
        legacy[.cookie] = "mercureAuthorization=x.y.z"
        #expect(try AccessTokenCredential.token(in: legacy) == nil)
        // Lower-case scheme is fine (the scheme is case-insensitive).
        var lower = HTTPFields()
        lower[.authorization] = "bearer a.b.c"
        #expect(try AccessTokenCredential.token(in: lower) == "a.b.c")
        #expect(try AccessTokenCredential.token(in: HTTPFields()) == nil)

        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Token a.b.c", "Bearer =abc"] {
            var fields = HTTPFields()
            fields[.authorization] = bad
            #expect(throws: BearerError.self, "\(bad)") { try AccessTokenCredential.token(in: fields) }
            do {
                _ = try AccessTokenCredential.token(in: fields)
            } catch {
                #expect(error.status == .badRequest)
                #expect(error.code == .invalidRequest)
            }
        }
        var twice = HTTPFields()
        twice.append(HTTPField(name: .authorization, value: "Bearer a.b.c"))
        twice.append(HTTPField(name: .authorization, value: "Bearer d.e.f"))
        #expect(throws: BearerError.invalidRequest("more than one Authorization header")) {
            try AccessTokenCredential.token(in: twice)
        }
    }

    // MARK: end to end (the interim publish wiring)

    static func configuration(resourceIdentifier: String? = audience) -> HeraldHTTPConfiguration {
        var http = HeraldHTTPConfiguration()
        http.publisherKey = HeraldKey(secret)
        http.issuers = [issuer]
        http.resourceIdentifier = resourceIdentifier
        return http
    }

    static func publish(_ server: TestServer, token: String, topic: String = "https://example.com/t") async throws -> (Int, String?, String) {
        let http = try HTTPStreamingClient(baseURL: server.baseURL)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await http.send(
            method: .POST,
            path: "/.well-known/mercure",
            headers: headers,
            body: ByteBuffer(string: "topic=\(topic)&data=x")
        )
        return (Int(response.status.code), response.headers.first(name: "WWW-Authenticate"), try await response.text())
    }

    @Test func conformanceTokenPublishesAndBadTokensGetRFC6750Answers() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let ok = try await Self.publish(server, token: Self.conformanceToken)
            #expect(ok.0 == 200)
            #expect(ok.2.hasPrefix("urn:uuid:"))

            let wrongAudience = try await Self.token(claims: Self.claims { $0["aud"] = .string("https://elsewhere/.well-known/mercure") })
            let refused = try await Self.publish(server, token: wrongAudience)
            #expect(refused.0 == 401)
            #expect(refused.1?.hasPrefix(#"Bearer error="invalid_token""#) == true)

            let narrow = try await Self.details([Self.detail(["publish"], [Self.match("https://example.com/only")])])
            let forbidden = try await Self.publish(server, token: narrow)
            #expect(forbidden.0 == 403)
            #expect(forbidden.1?.hasPrefix(#"Bearer error="insufficient_scope""#) == true)
            #expect(forbidden.2 == "not allowed to publish to https://example.com/t\n")

            let subscribeOnly = try await Self.details([Self.detail(["subscribe"], [Self.match("*")])])
            #expect(try await Self.publish(server, token: subscribeOnly).0 == 403)
            #expect(server.hub.statistics.dispatched == 1)
        }
    }

    @Test func audienceIsDerivedFromTheRequestWhenNotConfigured() async throws {
        try await TestServer.run(http: Self.configuration(resourceIdentifier: nil)) { server in
            let own = "http://\(server.baseURL.split(separator: "/").dropFirst().first ?? "")/.well-known/mercure"
            let token = try await Self.token(claims: Self.claims { $0["aud"] = .string(own) })
            #expect(try await Self.publish(server, token: token).0 == 200)
            #expect(try await Self.publish(server, token: Self.conformanceToken).0 == 401)
        }
    }
}
