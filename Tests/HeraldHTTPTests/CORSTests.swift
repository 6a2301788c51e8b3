import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// Cross-origin use from browsers: CORS headers on every hub answer (the event-loop fast
/// paths included), preflights, and publishes from pages the hub does not allow.
@Suite struct CORSTests {
    static let app = "https://app.example"
    static let pipelines: [TestServer.Pipeline] = [.herald, .publishHandler, .router]

    static func configuration(_ origins: [String], publisherKey: String? = nil) -> HeraldHTTPConfiguration {
        var http = HeraldHTTPConfiguration()
        http.corsOrigins = origins
        http.publisherKey = publisherKey.map { HeraldKey($0) }
        return http
    }

    /// Sends a request and returns its answer (its body still to be read, or closed).
    func send(
        _ server: TestServer,
        _ method: HTTPMethod,
        _ path: String,
        headers: [(String, String)],
        body: String? = nil
    ) async throws -> StreamingResponse {
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.add(name: name, value: value) }
        if body != nil { fields.add(name: "Content-Type", value: "application/x-www-form-urlencoded") }
        return try await HTTPStreamingClient(baseURL: server.baseURL).send(
            method: method,
            path: path,
            headers: fields,
            body: body.map { ByteBuffer(string: $0) }
        )
    }

    @Test(arguments: pipelines)
    func aListedOriginMayStreamWithCredentials(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(http: Self.configuration([Self.app]), pipeline: pipeline) { server in
            let stream = try await send(server, .GET, "/.well-known/mercure?topic=t", headers: [("Origin", Self.app)])
            defer { stream.close() }
            #expect(stream.status == .ok)
            #expect(stream.headers["Access-Control-Allow-Origin"] == [Self.app])
            #expect(stream.headers["Access-Control-Allow-Credentials"] == ["true"])
            #expect(stream.headers["Vary"] == ["Origin"])
            #expect(stream.headers["Access-Control-Expose-Headers"] == ["Last-Event-ID, Mercure-Last-Event-ID, WWW-Authenticate"])
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            _ = try await server.hub.publish(Update(topics: ["t"], data: "across origins"))
            #expect(try await firstEvent(stream.events)?.data == "across origins")
        }
    }

    @Test(arguments: pipelines)
    func theWildcardAllowsAnyOriginButNeverCredentials(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(http: Self.configuration(["*"]), pipeline: pipeline) { server in
            let stream = try await send(server, .GET, "/.well-known/mercure?topic=t", headers: [("Origin", "https://any.example")])
            defer { stream.close() }
            #expect(stream.status == .ok)
            #expect(stream.headers["Access-Control-Allow-Origin"] == ["*"])
            #expect(stream.headers["Access-Control-Allow-Credentials"].isEmpty)
        }
    }

    @Test(arguments: pipelines)
    func otherOriginsGetNoCORSHeaders(pipeline: TestServer.Pipeline) async throws {
        // `null` (sandboxed frames, data: pages) is never trusted, even when listed.
        for (origins, origin) in [([Self.app], "https://evil.example"), ([], Self.app), (["null"], "null")] {
            try await TestServer.run(http: Self.configuration(origins), pipeline: pipeline) { server in
                let stream = try await send(server, .GET, "/.well-known/mercure?topic=t", headers: [("Origin", origin)])
                defer { stream.close() }
                #expect(stream.status == .ok)  // the browser, not the hub, keeps the stream from the page
                #expect(stream.headers["Access-Control-Allow-Origin"].isEmpty, "\(origins)")
                #expect(stream.headers["Access-Control-Allow-Credentials"].isEmpty, "\(origins)")
                // With origins named, the answer depends on Origin even when it is refused.
                #expect(stream.headers["Vary"] == (origins == [Self.app] ? ["Origin"] : []), "\(origins)")
            }
        }
    }

    @Test(arguments: pipelines)
    func refusalsCarryTheHeadersSoThePageCanReadWhy(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(http: Self.configuration([Self.app]), pipeline: pipeline) { server in
            let refused = try await send(server, .GET, "/.well-known/mercure", headers: [("Origin", Self.app)])
            #expect(refused.status == .badRequest)
            #expect(refused.headers["Access-Control-Allow-Origin"] == [Self.app])
            #expect(try await refused.text().contains("missing topic"))
        }
    }

    @Test func preflightsSayWhatAPageMayDo() async throws {
        try await TestServer.run(http: Self.configuration([Self.app])) { server in
            let preflight: [(String, String)] = [
                ("Origin", Self.app), ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization"),
                ("Access-Control-Request-Private-Network", "true"),
            ]
            let allowed = try await send(server, .OPTIONS, "/.well-known/mercure", headers: preflight)
            #expect(allowed.status == .noContent)
            #expect(allowed.headers["Access-Control-Allow-Origin"] == [Self.app])
            #expect(allowed.headers["Access-Control-Allow-Methods"] == ["GET, POST"])
            #expect(allowed.headers["Access-Control-Allow-Headers"].first?.contains("Authorization") == true)
            #expect(allowed.headers["Access-Control-Max-Age"] == ["600"])
            #expect(allowed.headers["Access-Control-Allow-Private-Network"] == ["true"])

            let subscriptions = try await send(server, .OPTIONS, "/.well-known/mercure/subscriptions/t", headers: preflight)
            #expect(subscriptions.status == .noContent)
            #expect(subscriptions.headers["Access-Control-Allow-Methods"] == ["GET"])

            let evil = try await send(
                server, .OPTIONS, "/.well-known/mercure",
                headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")]
            )
            #expect(evil.status == .forbidden)
            #expect(evil.headers["Access-Control-Allow-Origin"].isEmpty)
            #expect(try await evil.text().contains("origin not allowed"))

            let plain = try await send(server, .OPTIONS, "/.well-known/mercure", headers: [])
            #expect(plain.status == .noContent)
            #expect(plain.headers["Allow"] == ["GET, POST, OPTIONS"])
        }
        try await TestServer.run(http: Self.configuration([])) { server in
            let off = try await send(
                server, .OPTIONS, "/.well-known/mercure",
                headers: [("Origin", Self.app), ("Access-Control-Request-Method", "GET")]
            )
            #expect(off.status == .forbidden)
            #expect(try await off.text().contains("not enabled"))
        }
    }

    /// No page may publish through its visitor's loopback address, on any pipeline: the fast
    /// paths leave requests with an `Origin` to the router, which checks it.
    @Test(arguments: pipelines)
    func keylessPublishesFromOtherOriginsAreRefused(pipeline: TestServer.Pipeline) async throws {
        // Not even `*`: loopback is the visitor's credential, not the page's.
        for origins in [[Self.app], [], ["*"]] {
            try await TestServer.run(http: Self.configuration(origins), pipeline: pipeline) { server in
                let refused = try await send(
                    server, .POST, "/.well-known/mercure", headers: [("Origin", "https://evil.example")], body: "topic=t&data=x")
                #expect(refused.status == .forbidden)
                #expect(try await refused.text().contains("cross-origin publish refused"))
                let sameOrigin = try await send(
                    server, .POST, "/.well-known/mercure", headers: [("Origin", server.baseURL)], body: "topic=t&data=x")
                #expect(sameOrigin.status == .ok)
                #expect(server.hub.statistics.dispatched == 1)
            }
        }
    }

    /// DNS rebinding: the attacker's name now points at 127.0.0.1, so its page is same-origin
    /// with the hub as far as Origin and Host go. A keyless hub takes browser publishes only
    /// under a loopback host name.
    @Test(arguments: pipelines)
    func aReboundHostNameCannotPublishToAKeylessHub(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            func publish(host: String) async throws -> String {
                let connection = try await RawConnection.open(port: server.port)
                defer { connection.close() }
                let body = "topic=t&data=x"
                try await connection.send(
                    "POST /.well-known/mercure HTTP/1.1\r\nHost: \(host)\r\nOrigin: http://\(host)\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                // The whole answer: a reason or an id after the head.
                return try await connection.read { completeResponses($0) == 1 }
            }
            let rebound = try await publish(host: "attacker.example:\(server.port)")
            #expect(rebound.hasPrefix("HTTP/1.1 403"), "\(rebound)")
            #expect(rebound.contains("loopback host name"))
            for host in ["127.0.0.1:\(server.port)", "localhost:\(server.port)", "[::1]:\(server.port)"] {
                let own = try await publish(host: host)
                #expect(own.hasPrefix("HTTP/1.1 200"), "\(host): \(own)")
            }
            #expect(server.hub.statistics.dispatched == 3)
        }
    }

    @Test(arguments: pipelines)
    func aListedOriginMayPublishAndReadTheID(pipeline: TestServer.Pipeline) async throws {
        // Listed as an operator might type it: case and a trailing slash do not matter.
        try await TestServer.run(http: Self.configuration(["https://App.Example/"]), pipeline: pipeline) { server in
            let answer = try await send(
                server, .POST, "/.well-known/mercure", headers: [("Origin", Self.app)], body: "topic=t&id=one&data=x")
            #expect(answer.status == .ok)
            #expect(answer.headers["Access-Control-Allow-Origin"] == [Self.app])
            #expect(try await answer.text() == "one")
        }
    }

    @Test func cookiesCountOnlyFromOriginsListedByName() async throws {
        let secret = "publisher-secret-publisher-secret-0123"
        let token = try await HeraldKey(secret).sign(MercureClaims(mercure: .init(publish: ["*"])))
        for (origins, expected) in [(["*"], HTTPResponseStatus.forbidden), ([Self.app], .ok)] {
            try await TestServer.run(http: Self.configuration(origins, publisherKey: secret)) { server in
                let answer = try await send(
                    server, .POST, "/.well-known/mercure",
                    headers: [("Origin", Self.app), ("Cookie", "mercureAuthorization=\(token)")], body: "topic=t")
                #expect(answer.status == expected, "origins \(origins)")
                // A bearer token is no cookie: a page allowed by the wildcard may use one.
                let bearer = try await send(
                    server, .POST, "/.well-known/mercure",
                    headers: [("Origin", Self.app), ("Authorization", "Bearer \(token)")], body: "topic=t")
                #expect(bearer.status == .ok)
            }
        }
    }

    @Test func originListsAreCheckedBeforeTheServerStarts() throws {
        #expect(
            try HeraldHTTPConfiguration.parseCORSOrigins("https://a.example, http://b.example:8080/ *")
                == ["https://a.example", "http://b.example:8080/", "*"]
        )
        for bad in ["null", "a.example", "https://a.example/app", "https://", "https://a.example?x", "://a.example"] {
            #expect(throws: CORSOriginError.self, "\(bad)") { try HeraldHTTPConfiguration.parseCORSOrigins(bad) }
        }
    }
}
