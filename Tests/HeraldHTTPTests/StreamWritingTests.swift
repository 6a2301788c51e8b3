import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOCore
import ServerSentEvents
import Testing

/// What the stream writer (events go straight into the connection) puts on the wire besides
/// events: the retry hint first, heartbeats on idle streams, and replay before live events.
@Suite struct StreamWritingTests {
    @Test(.timeLimit(.minutes(1)), arguments: [TestServer.Pipeline.herald, .router])
    func retryHintComesFirstThenReplayThenLiveThenHeartbeats(pipeline: TestServer.Pipeline) async throws {
        var hub = HubConfiguration()
        hub.retryHint = 2500
        hub.heartbeatInterval = .milliseconds(100)
        try await TestServer.run(hub: hub, pipeline: pipeline) { server in
            let client = try server.client()
            let first = try await client.publish(topics: ["h"], data: "old")
            let (stream, close) = try await client.subscribe(topics: ["h"], lastEventID: "earliest")
            defer { close() }
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            let live = try await client.publish(topics: ["h"], data: "new")
            var seen: [ServerSentEventParser.Element] = []
            var eventCount = 0
            // Ends once a heartbeat follows both events; the time limit fails the test if none comes.
            for try await element in stream {
                seen.append(element)
                if case .event = element { eventCount += 1 }
                if case .comment = element, eventCount == 2 { break }  // a heartbeat after both
            }
            #expect(seen.first == .retry(2500))
            seen.removeAll { if case .comment = $0 { true } else { false } }
            let events = seen.compactMap { element -> ServerSentEvent? in
                if case .event(let event) = element { return event }
                return nil
            }
            #expect(events.map(\.id) == [first, live])
            #expect(events.map(\.data) == ["old", "new"])
        }
    }
}
