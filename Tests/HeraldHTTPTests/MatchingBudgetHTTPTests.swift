import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Testing

/// The hub-wide matching budget over HTTP: a subscription that would add new templates past it
/// gets 503 with Retry-After (the hub's limit, not the client's fault), on every path, and
/// `/metrics` shows the budget in use and the counters of issue 12.
@Suite struct MatchingBudgetHTTPTests {
    @Test(arguments: [TestServer.Pipeline.herald, .router])
    func aFullBudgetIs503WithRetryAfter(pipeline: TestServer.Pipeline) async throws {
        let states = try TopicSelector("/a/{x}").matchingStates
        var configuration = HubConfiguration()
        configuration.maxMatchingStates = states
        try await TestServer.run(hub: configuration, pipeline: pipeline) { server in
            let (stream, close) = try await subscribeRaw(server, "/.well-known/mercure?topic=%2Fa%2F%7Bx%7D")
            defer { close() }
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            let client = try HTTPStreamingClient(baseURL: server.baseURL)
            let refused = try await client.send(method: .GET, path: "/.well-known/mercure?topic=%2Fb%2F%7Bx%7D")
            #expect(refused.status.code == 503)
            #expect(refused.headers["Retry-After"] == [String(HubError.retryAfterSeconds)])
            #expect(refused.headers["Content-Type"].first?.hasPrefix("text/plain") == true)
            #expect(try await refused.text().contains("too many distinct topic selectors in use"))
            // The template in use is still taken, and delivers.
            let (second, closeSecond) = try await subscribeRaw(server, "/.well-known/mercure?topic=%2Fa%2F%7Bx%7D")
            defer { closeSecond() }
            try await waitUntil { server.hub.statistics.subscribers == 2 }
            #expect(try await post(server, body: "topic=/a/1&data=one").0 == 200)
            #expect(try await events(stream, count: 1).map(\.data) == ["one"])
            #expect(try await events(second, count: 1).map(\.data) == ["one"])
        }
    }

    @Test func metricsCountGapsDuplicatesAndTheBudgetInUse() async throws {
        try await TestServer.run(mount: { router, endpoint in router.addHeraldMetrics(endpoint) }) { server in
            let before = try await MetricsTests().scrape(server)
            #expect(before["herald_gap_events_total"] == 0)
            #expect(before["herald_publish_duplicates_total"] == 0)
            #expect(before["herald_matching_states"] == 0)
            let client = try server.client()
            for _ in 0..<3 { _ = try await client.publish(topics: ["m"], data: "x", id: "same") }
            let (gapped, closeGapped) = try await client.subscribe(topics: ["/m/{id}"], lastEventID: "unknown")
            defer { closeGapped() }
            #expect(try await events(gapped, count: 1).first?.event == HeraldClient.gapEventType)
            // A known id and `earliest` are no gap.
            let (known, closeKnown) = try await client.subscribe(topics: ["m"], lastEventID: "same")
            defer { closeKnown() }
            let (earliest, closeEarliest) = try await client.subscribe(topics: ["m"], lastEventID: "earliest")
            defer { closeEarliest() }
            #expect(try await events(earliest, count: 1).map(\.data) == ["x"])
            _ = try await client.publish(topics: ["m"], data: "y")
            #expect(try await events(known, count: 1).map(\.data) == ["y"])
            let after = try await MetricsTests().scrape(server)
            #expect(after["herald_gap_events_total"] == 1)
            #expect(after["herald_publish_duplicates_total"] == 2)
            #expect(after["herald_matching_states"] == Double(try TopicSelector("/m/{id}").matchingStates))
        }
    }
}
