import HeraldTestSupport
import HTTPTypes
import HeraldClient
import HeraldHTTP
import HeraldHub
import Hummingbird
import JWTKit
import NIOCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct AuthorizationTests {
    static let secret = "publisher-secret-publisher-secret-0123"

    static func configuration() -> HeraldHTTPConfiguration {
        var http = HeraldHTTPConfiguration()
        http.publisherKey = HeraldKey(secret)
        http.subscriberKey = HeraldKey("subscriber-secret-subscriber-secret-01")
        return http
    }

    static func token(
        key: String = secret,
        publish: [String]? = ["*"],
        subscribe: [String]? = nil,
        expires: Date = Date().addingTimeInterval(600)
    ) async throws -> String {
        try await HeraldKey(key).sign(
            MercureClaims(exp: .init(value: expires), mercure: .init(publish: publish, subscribe: subscribe))
        )
    }

    @Test func unusableKeysAreRejectedUpFront() throws {
        #expect(throws: HeraldKeyError.self) { try HeraldKey("too-short").validate() }
        #expect(throws: HeraldKeyError.self) { try HeraldKey("not a pem", algorithm: .rs256).validate() }
        #expect(throws: HeraldKeyError.self) { try HeraldKey("not a pem", algorithm: .es256).validate() }
        try HeraldKey(String(repeating: "k", count: HeraldKey.minimumSecretBytes)).validate()
    }

    @Test func validPublisherTokenInHeaderQueryOrCookie() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let token = try await Self.token()
            let viaHeader = try await post(server, body: "topic=t", headers: [("Authorization", "Bearer \(token)")])
            let viaQuery = try await post(server, body: "topic=t", query: "?authorization=\(token)")
            let viaCookie = try await post(server, body: "topic=t", headers: [("Cookie", "mercureAuthorization=\(token)")])
            #expect(viaHeader.0 == 200)
            #expect(viaQuery.0 == 200)
            #expect(viaCookie.0 == 200)
            #expect(server.hub.statistics.dispatched == 3)
        }
    }

    @Test func badPublisherCredentials() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let cases: [(String?, Int, String)] = [
                (nil, 401, "missing publisher token"),
                ("not.a.jwt", 401, "malformed token"),
                ("garbage", 401, "token"),
                (try await Self.token(key: "other-secret-other-secret-other-secret"), 401, "invalid token signature"),
                (try await Self.token(expires: Date().addingTimeInterval(-60)), 401, "expired"),
                (try await Self.token(publish: nil), 403, "no mercure.publish claim"),
                (try await Self.token(publish: ["https://ex.com/books/{id}"]), 403, "not allowed to publish to t"),
            ]
            for (token, status, reason) in cases {
                let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
                let (code, text) = try await post(server, body: "topic=t", headers: headers)
                #expect(code == status, "token \(token ?? "none")")
                #expect(text.contains(reason), "body: \(text)")
            }
            #expect(server.hub.statistics.dispatched == 0)
        }
    }

    @Test func publishClaimMustCoverEveryTopic() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let token = try await Self.token(publish: ["https://ex.com/books/{id}"])
            let auth = [("Authorization", "Bearer \(token)")]
            let allowed = try await post(server, body: "topic=https://ex.com/books/1", headers: auth)
            let mixed = try await post(server, body: "topic=https://ex.com/books/1&topic=https://ex.com/secret", headers: auth)
            #expect(allowed.0 == 200)
            #expect(mixed.0 == 403)
        }
    }

    @Test func cookieCredentialsFromAnotherOriginCannotPublish() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let token = try await Self.token()
            let (code, text) = try await post(
                server,
                body: "topic=t",
                headers: [("Cookie", "mercureAuthorization=\(token)"), ("Origin", "https://evil.example")]
            )
            #expect(code == 403)
            #expect(text.contains("cross-origin"))
        }
    }

    @Test func badSubscriberTokensAre401() async throws {
        try await TestServer.run(http: Self.configuration()) { server in
            let expired = try await Self.token(key: "subscriber-secret-subscriber-secret-01", subscribe: ["*"], expires: Date().addingTimeInterval(-5))
            let wrongKey = try await Self.token(key: "nope-nope-nope-nope-nope-nope-nope-nope", subscribe: ["*"])
            for token in [expired, wrongKey, "xx.yy.zz"] {
                let (code, _) = try await get(server, "/.well-known/mercure?topic=t", headers: [("Authorization", "Bearer \(token)")])
                #expect(code == 401)
            }
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test func privateHubRequiresTokensCoveringTheSelectors() async throws {
        var http = Self.configuration()
        http.allowAnonymousSubscribers = false
        try await TestServer.run(http: http) { server in
            let (anonymous, text) = try await get(server, "/.well-known/mercure?topic=t")
            #expect(anonymous == 401)
            #expect(text.contains("missing subscriber token"))
            let token = try await Self.token(key: "subscriber-secret-subscriber-secret-01", subscribe: ["https://ex.com/rooms/{room}"])
            let auth = [("Authorization", "Bearer \(token)")]
            let (forbidden, reason) = try await get(server, "/.well-known/mercure?topic=https://ex.com/other", headers: auth)
            #expect(forbidden == 403)
            #expect(reason.contains("not allowed to subscribe"))
            let (events, close) = try await server.client().subscribe(topics: ["https://ex.com/rooms/a"], token: token)
            defer { close() }
            _ = try await server.client().publish(
                topics: ["https://ex.com/rooms/a"],
                data: "hi",
                token: try await Self.token()
            )
            #expect(try await firstEvent(events)?.data == "hi")
        }
    }

    /// Without a publisher key only loopback clients may publish; this calls the handler with a
    /// non-loopback peer address (no traffic leaves the machine).
    @Test func keylessPublishingIsLoopbackOnly() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let endpoint = HeraldEndpoint(hub: hub, configuration: HeraldHTTPConfiguration())
        func request() -> Request {
            let head = HTTPRequest(
                method: .post,
                scheme: "http",
                authority: "hub",
                path: "/.well-known/mercure",
                headerFields: [.contentType: "application/x-www-form-urlencoded"]
            )
            return Request(head: head, body: .init(buffer: ByteBuffer(string: "topic=t&data=x")))
        }
        let remote = await endpoint.publish(request(), remoteAddress: try SocketAddress(ipAddress: "192.0.2.7", port: 4000))
        #expect(remote.status == .forbidden)
        let unknown = await endpoint.publish(request(), remoteAddress: nil)
        #expect(unknown.status == .forbidden)
        let local = await endpoint.publish(request(), remoteAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 4000))
        #expect(local.status == .ok)
        let local6 = await endpoint.publish(request(), remoteAddress: try SocketAddress(ipAddress: "::1", port: 4000))
        #expect(local6.status == .ok)
        #expect(hub.statistics.dispatched == 2)
    }
}
