import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

/// The in-band gap signal and idempotent publishing, with the in-memory broker.
@Suite struct HubGapAndIdempotenceTests {
    @Test func aKnownIDEarliestOrNoIDGetsNoGapEvent() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let first = try await hub.publish(Update(topics: ["t"], data: "1"))
        try await hub.publish(Update(topics: ["t"], data: "2"))
        for lastEventID in [first, Update.earliestID, "", nil] {
            let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: lastEventID))
            #expect(subscription.replayFound, "\(lastEventID ?? "nil")")
            let (recorder, _) = record(subscription)
            try await hub.publish(Update(topics: ["t"], data: "live"))
            await recorder.waitForEvents(1)
            #expect(recorder.events.first?.event == nil, "no gap event for \(lastEventID ?? "nil")")
            subscription.cancel()
        }
    }

    /// The gap event goes to every subscriber that asked for an unknown id, whatever its topics
    /// (it is about the stream, not a topic), and its JSON survives any id a client can send.
    @Test func theGapEventCarriesTheAskedIDAsJSONWhateverTheTopics() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let hostile = "a\"b\\c\nd\re\u{0}f</script>"
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("/only/this"), lastEventID: hostile))
        let (recorder, _) = record(subscription)
        await recorder.waitForEvents(1)
        let gap = try #require(recorder.events.first)
        #expect(gap.event == Hub.gapEventType)
        #expect(gap.data == #"{"lastEventID":"a\"b\\c\nd\re\u0000f</script>"}"#)
        #expect(!gap.data.contains("\n"), "one data line")
    }

    /// A publish retried with the same id while history holds it is stored and delivered once,
    /// and answered with that id; both publishing paths (async and immediate) agree.
    @Test func aRetriedPublishWithTheSameIDIsDeliveredOnce() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t")))
        let (recorder, _) = record(subscription)
        #expect(try await hub.publish(Update(topics: ["t"], data: "first", id: "order-1")) == "order-1")
        #expect(try await hub.publish(Update(topics: ["t"], data: "retry", id: "order-1")) == "order-1")
        #expect(hub.publishImmediately(Update(topics: ["t"], data: "again", id: "order-1")) == "order-1")
        try await hub.publish(Update(topics: ["t"], data: "next", id: "order-2"))
        await recorder.waitForEvents(2)
        #expect(recorder.events.map(\.data) == ["first", "next"])
        #expect(hub.statistics.historyCount == 2)
        #expect(hub.statistics.dispatched == 2)
    }

    /// Concurrent retries of one id race through the hub's lock: exactly one is stored.
    @Test func concurrentRetriesStoreOneUpdate() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for attempt in 0..<50 {
                group.addTask { try await hub.publish(Update(topics: ["t"], data: "\(attempt)", id: "once")) }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(ids == Array(repeating: "once", count: 50))
        #expect(hub.statistics.historyCount == 1)
    }

    /// Outside the history window an id is new again (the window is what the hub retains).
    @Test func anIDEvictedFromHistoryCanBePublishedAgain() async throws {
        var configuration = HubConfiguration()
        configuration.historySize = 2
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        try await hub.publish(Update(topics: ["t"], data: "a", id: "x"))
        try await hub.publish(Update(topics: ["t"], data: "b"))
        try await hub.publish(Update(topics: ["t"], data: "c"))
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t")))
        let (recorder, _) = record(subscription)
        try await hub.publish(Update(topics: ["t"], data: "a again", id: "x"))
        await recorder.waitForEvents(1)
        #expect(recorder.events.map(\.data) == ["a again"])
        #expect(hub.statistics.dispatched == 4)
    }
}
