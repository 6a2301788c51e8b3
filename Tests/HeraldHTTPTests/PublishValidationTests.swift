import HeraldTestSupport
import HeraldClient
import HeraldHTTP
import HeraldHub
import NIOCore
import NIOHTTP1
import Testing

/// Every malformed publish gets the right 4xx with a short reason, and publishes nothing.
@Suite struct PublishValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let body: String
        var contentType: String? = "application/x-www-form-urlencoded"
        let status: Int
        let reason: String
        var testDescription: String { "\(status) \(reason)" }
    }

    static let cases: [Case] = [
        Case(body: "", status: 400, reason: "missing topic"),
        Case(body: "data=hello", status: 400, reason: "missing topic"),
        Case(body: "topic=", status: 400, reason: "empty topic"),
        Case(body: "topic=t&retry=abc", status: 400, reason: "retry"),
        Case(body: "topic=t&retry=-5", status: 400, reason: "retry"),
        Case(body: "topic=t&retry=1.5", status: 400, reason: "retry"),
        Case(body: "topic=t&retry=", status: 400, reason: "retry"),
        Case(body: "topic=t&retry=99999999999999999999", status: 400, reason: "retry"),
        Case(body: "topic=t&id=a%0Adata:%20evil", status: 400, reason: "id must not contain"),
        Case(body: "topic=t&id=a%0Db", status: 400, reason: "id must not contain"),
        Case(body: "topic=t&id=a%00b", status: 400, reason: "id must not contain"),
        Case(body: "topic=t&id=earliest", status: 400, reason: "reserved"),
        Case(body: "topic=t&type=a%0Aid:%20x", status: 400, reason: "type must not contain"),
        Case(body: "topic=t&data=a&data=b", status: 400, reason: "more than once"),
        Case(body: "topic=t&data=%zz", status: 400, reason: "percent-encoding"),
        Case(body: "topic=t&data=%FF%FE", status: 400, reason: "UTF-8"),
        Case(body: "topic=t", contentType: "application/json", status: 415, reason: "x-www-form-urlencoded"),
        Case(body: "topic=t", contentType: nil, status: 415, reason: "x-www-form-urlencoded"),
    ]

    @Test(arguments: cases)
    func malformedPublishIsRefused(_ testCase: Case) async throws {
        try await TestServer.run { server in
            let (status, text) = try await post(server, body: testCase.body, contentType: testCase.contentType)
            #expect(status == testCase.status)
            #expect(text.contains(testCase.reason), "body: \(text)")
            #expect(server.hub.statistics.dispatched == 0)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        var http = HeraldHTTPConfiguration()
        http.maxBodySize = 1024
        try await TestServer.run(http: http) { server in
            let (status, text) = try await post(server, body: "topic=t&data=" + String(repeating: "x", count: 2000))
            #expect(status == 413)
            #expect(text.contains("larger than 1024"))
            let (ok, _) = try await post(server, body: "topic=t&data=" + String(repeating: "x", count: 900))
            #expect(ok == 200)
            #expect(server.hub.statistics.dispatched == 1)
        }
    }

    @Test func tooManyTopicsIsRefused() async throws {
        try await TestServer.run { server in
            let body = (0...Update.maxTopics).map { "topic=t\($0)" }.joined(separator: "&")
            let (status, text) = try await post(server, body: body)
            #expect(status == 400)
            #expect(text.contains("too many topics"))
        }
    }

    @Test func givenFieldsArePublishedAsIs() async throws {
        try await TestServer.run { server in
            let (events, close) = try await server.client().subscribe(topics: ["t"])
            defer { close() }
            let (status, id) = try await post(server, body: "topic=t&id=my-id&type=greeting&retry=300&data=hi+there%21")
            #expect(status == 200)
            #expect(id == "my-id")
            let event = try await firstEvent(events)
            #expect(event == .init(data: "hi there!", event: "greeting", id: "my-id"))
        }
    }
}

@Suite struct SubscribeValidationTests {
    @Test(arguments: [
        ("/.well-known/mercure", 400, "missing topic"),
        ("/.well-known/mercure?lastEventID=x", 400, "missing topic"),
        ("/.well-known/mercure?topic=%zz", 400, "bad query string"),
        ("/.well-known/mercure?topic=https://ex.com/%7Bunclosed", 400, "invalid topic selector"),
        ("/.well-known/mercure?topic=", 400, "invalid topic selector"),
    ])
    func badSubscribeRequests(_ path: String, _ status: Int, _ reason: String) async throws {
        try await TestServer.run { server in
            let (code, text) = try await get(server, path)
            #expect(code == status)
            #expect(text.contains(reason), "body: \(text)")
            #expect(server.hub.statistics.subscriptionsOpened == 0)
        }
    }

    @Test func tooManySelectorsIsRefused() async throws {
        try await TestServer.run { server in
            let query = (0...100).map { "topic=t\($0)" }.joined(separator: "&")
            let (code, text) = try await get(server, "/.well-known/mercure?" + query)
            #expect(code == 400)
            #expect(text.contains("too many topics"))
        }
    }
}

/// Methods the hub's paths do not take get 405 with `Allow`, on every pipeline, and change nothing.
@Suite struct MethodNotAllowedTests {
    @Test(arguments: [TestServer.Pipeline.herald, .publishHandler, .router])
    func otherMethodsAre405WithAllow(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let http = try HTTPStreamingClient(baseURL: server.baseURL)
            let cases: [(HTTPMethod, String, String)] = [
                (.PUT, "/.well-known/mercure?topic=t", "GET, POST, OPTIONS"),
                (.DELETE, "/.well-known/mercure", "GET, POST, OPTIONS"),
                (.PATCH, "/.well-known/mercure", "GET, POST, OPTIONS"),
                (.HEAD, "/.well-known/mercure?topic=t", "GET, POST, OPTIONS"),
                (.POST, "/.well-known/mercure/subscriptions", "GET, OPTIONS"),
                (.DELETE, "/.well-known/mercure/subscriptions/a/b", "GET, OPTIONS"),
            ]
            for (method, path, allow) in cases {
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                let body = method == .HEAD ? nil : ByteBuffer(string: "topic=t&data=x")
                let response = try await http.send(method: method, path: path, headers: headers, body: body)
                #expect(response.status.code == 405, "\(method) \(path)")
                #expect(response.headers["Allow"].first == allow, "\(method) \(path)")
                let text = try await response.text()
                if method != .HEAD { #expect(text.contains("not allowed"), "\(method) \(path): \(text)") }
            }
            #expect(server.hub.statistics.dispatched == 0)
            #expect(server.hub.statistics.subscriptionsOpened == 0)
            // The connection-level fast paths still answer the methods the hub takes.
            let (status, _) = try await post(server, body: "topic=t&data=x")
            #expect(status == 200)
        }
    }
}

/// A keyless hub takes publishes from loopback clients, and a reverse proxy on the same machine
/// connects from loopback on behalf of anyone: a forwarded request is refused, on every pipeline.
@Suite struct ForwardedPublishTests {
    @Test(arguments: [TestServer.Pipeline.herald, .publishHandler, .router])
    func keylessHubsRefuseForwardedPublishes(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            for header in [("X-Forwarded-For", "203.0.113.9"), ("x-real-ip", "203.0.113.9"), ("Forwarded", "for=203.0.113.9")] {
                let (status, text) = try await post(server, body: "topic=t&data=x", headers: [header])
                #expect(status == 403, "\(header)")
                #expect(text.contains("forwarded by a proxy"), "\(header): \(text)")
            }
            #expect(server.hub.statistics.dispatched == 0)
            let (status, _) = try await post(server, body: "topic=t&data=x")
            #expect(status == 200)
            #expect(server.hub.statistics.dispatched == 1)
        }
    }

    @Test func forwardedPublishesWithATokenAreFine() async throws {
        let key = HeraldKey("publisher-secret-publisher-secret-0001")
        var http = HeraldHTTPConfiguration()
        http.publisherKey = key
        try await TestServer.run(http: http) { server in
            let token = try await key.sign(MercureClaims(mercure: .init(publish: ["*"])))
            // The first is verified by the router, the second answered by the fast path.
            for _ in 0..<2 {
                let (status, _) = try await post(
                    server,
                    body: "topic=t&data=x",
                    headers: [("Authorization", "Bearer \(token)"), ("X-Forwarded-For", "203.0.113.9")]
                )
                #expect(status == 200)
            }
            #expect(server.hub.statistics.dispatched == 2)
            #expect(server.endpoint.fastPathPublishes == 1)
        }
    }
}
