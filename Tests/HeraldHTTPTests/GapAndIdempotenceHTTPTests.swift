import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import ServerSentEvents
import Testing

/// The gap signal and idempotent publishing over real HTTP: whichever way the id is sent, the
/// stream says so in-band; a retried publish is answered with its id and delivered once.
@Suite struct GapAndIdempotenceHTTPTests {
    @Test func anUnknownLastEventIDByHeaderOrQueryStartsTheStreamWithTheGapEvent() async throws {
        #expect(HeraldClient.gapEventType == Hub.gapEventType)
        try await TestServer.run { server in
            let client = try server.client()
            _ = try await client.publish(topics: ["g"], data: "old")
            let (byHeader, closeHeader) = try await client.subscribe(topics: ["g"], lastEventID: "gone")
            defer { closeHeader() }
            let (byQuery, closeQuery) = try await subscribeRaw(server, "/.well-known/mercure?topic=g&lastEventID=gone%22%0A")
            defer { closeQuery() }
            _ = try await client.publish(topics: ["g"], data: "new")
            let header = try await events(byHeader, count: 2)
            #expect(header.map(\.event) == [HeraldClient.gapEventType, nil])
            #expect(header.map(\.data) == [#"{"lastEventID":"gone"}"#, "new"])
            #expect(header.first?.id == nil)
            let query = try await events(byQuery, count: 2)
            #expect(query.map(\.event) == [HeraldClient.gapEventType, nil])
            #expect(query.first?.data == #"{"lastEventID":"gone\"\n"}"#)
        }
    }

    @Test func aPublishRetriedWithItsIDIsAnsweredWithItAndDeliveredOnce() async throws {
        try await TestServer.run { server in
            let client = try server.client()
            let (stream, close) = try await client.subscribe(topics: ["p"])
            defer { close() }
            for _ in 0..<3 {
                #expect(try await client.publish(topics: ["p"], data: "charge", id: "invoice-7") == "invoice-7")
            }
            _ = try await client.publish(topics: ["p"], data: "after", id: "invoice-8")
            #expect(try await events(stream, count: 2).map(\.data) == ["charge", "after"])
            #expect(server.hub.statistics.dispatched == 2)
        }
    }
}
