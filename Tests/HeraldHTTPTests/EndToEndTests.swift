import HeraldTestSupport
import HeraldClient
import HeraldHTTP
import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

/// The real server on a loopback port, real sockets, real SSE parsing.
@Suite struct EndToEndTests {
    @Test func curlSessionFromTheReadme() async throws {
        try await TestServer.run { server in
            let client = try server.client()
            let (events, close) = try await client.subscribe(topics: ["news"])
            defer { close() }
            let id = try await client.publish(topics: ["news"], data: "{\"hello\":\"world\"}")
            #expect(id.hasPrefix("urn:uuid:"))
            let first = try await firstEvent(events)
            #expect(first == ServerSentEvent(data: "{\"hello\":\"world\"}", id: id))
        }
    }

    @Test func streamHeaders() async throws {
        try await TestServer.run { server in
            _ = try await server.client().publish(topics: ["t"], data: "x")
            let http = try HTTPStreamingClient(baseURL: server.baseURL)
            let response = try await http.send(method: .GET, path: "/.well-known/mercure?topic=t")
            defer { response.close() }
            #expect(response.status == .ok)
            #expect(response.headers["Content-Type"].first == "text/event-stream")
            #expect(response.headers["Cache-Control"].first?.contains("no-cache") == true)
            #expect(response.headers["Cache-Control"].first?.contains("no-store") == true)
            #expect(response.headers["X-Accel-Buffering"].first == "no")
            #expect(response.headers["Last-Event-ID"].first == server.hub.lastEventID)
        }
    }

    @Test func reconnectWithLastEventIDHeaderOrQueryReplaysExactlyWhatWasMissed() async throws {
        try await TestServer.run { server in
            let client = try server.client()
            var ids: [String] = []
            for index in 1...5 { ids.append(try await client.publish(topics: ["r"], data: "\(index)")) }

            let (byHeader, closeHeader) = try await client.subscribe(topics: ["r"], lastEventID: ids[2])
            defer { closeHeader() }
            let (byQuery, queryResponse) = try await subscribeRaw(server, "/.well-known/mercure?topic=r&lastEventID=\(ids[3])")
            defer { queryResponse() }
            let (earliest, closeEarliest) = try await client.subscribe(topics: ["r"], lastEventID: "earliest")
            defer { closeEarliest() }

            let live = try await client.publish(topics: ["r"], data: "6")
            #expect(try await events(byHeader, count: 3).map(\.data) == ["4", "5", "6"])
            #expect(try await events(byQuery, count: 2).map(\.data) == ["5", "6"])
            let all = try await events(earliest, count: 6)
            #expect(all.map(\.data) == ["1", "2", "3", "4", "5", "6"])
            #expect(all.last?.id == live)
        }
    }

    @Test func privateUpdatesReachOnlyAuthorizedSubscribers() async throws {
        var http = HeraldHTTPConfiguration()
        http.subscriberKey = HeraldKey("subscriber-secret-subscriber-secret-01")
        try await TestServer.run(http: http) { server in
            let client = try server.client()
            let token = try await HeraldKey("subscriber-secret-subscriber-secret-01").sign(
                MercureClaims(mercure: .init(subscribe: ["https://ex.com/users/{id}"]))
            )
            let (authorized, closeA) = try await client.subscribe(topics: ["*"], token: token)
            defer { closeA() }
            let (anonymous, closeB) = try await client.subscribe(topics: ["*"])
            defer { closeB() }
            _ = try await client.publish(topics: ["https://ex.com/users/1"], data: "secret", isPrivate: true)
            _ = try await client.publish(topics: ["https://ex.com/public"], data: "public")
            #expect(try await events(authorized, count: 2).map(\.data) == ["secret", "public"])
            #expect(try await events(anonymous, count: 1).map(\.data) == ["public"])
        }
    }

    /// Mercure: the `private` field's presence makes an update private, whatever its value.
    @Test func privateFieldWithAnyValueIsPrivate() async throws {
        try await TestServer.run { server in
            let (anonymous, close) = try await server.client().subscribe(topics: ["*"])
            defer { close() }
            for field in ["private=", "private", "private=off", "private=false", "private=on"] {
                let (status, _) = try await post(server, body: "topic=t&data=\(field)&" + field)
                #expect(status == 200, "\(field)")
            }
            #expect(try await post(server, body: "topic=t&data=public").0 == 200)
            #expect(try await events(anonymous, count: 1).map(\.data) == ["public"])
        }
    }

    /// The same limits on both request paths: the event-loop handler and the router.
    @Test(arguments: [TestServer.Pipeline.herald, .router])
    func subscriptionAndTopicLimitsGiveA400WithAReason(_ pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let tooMany = (0...64).map { "topic=t\($0)" }.joined(separator: "&")
            let (status, reason) = try await get(server, "/.well-known/mercure?" + tooMany)
            #expect(status == 400)
            #expect(reason.contains("too many topics (max 64)"))
            let long = try await get(server, "/.well-known/mercure?topic=" + String(repeating: "a", count: 2049))
            #expect(long.0 == 400)
            #expect(long.1.contains("longer than 2048 bytes"))
            let complex = try await get(server, "/.well-known/mercure?topic=" + String(repeating: "%7B%2Ba%7D", count: 17))
            #expect(complex.0 == 400)
            #expect(complex.1.contains("template too complex"))
            let publish = try await post(server, body: "topic=" + String(repeating: "a", count: 2049))
            #expect(publish.0 == 400)
            #expect(publish.1.contains("topic is longer than 2048 bytes"))
        }
    }

    @Test func gracefulShutdownSendsAFinalCommentAndEndsStreams() async throws {
        var comments: [String] = []
        var ended = false
        var streamTask: Task<([String], Bool), any Error>?
        try await TestServer.run { server in
            let (elements, _) = try await server.client().subscribe(topics: ["t"])
            streamTask = Task {
                var comments: [String] = []
                for try await element in elements {
                    if case .comment(let text) = element { comments.append(text) }
                }
                return (comments, true)
            }
            try await waitUntil { server.hub.statistics.subscribers == 1 }
        }
        (comments, ended) = try await streamTask!.value
        #expect(ended)
        #expect(comments.contains { $0.contains("shutting down") })
    }
}

