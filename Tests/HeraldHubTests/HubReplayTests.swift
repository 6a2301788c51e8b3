import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

@Suite struct HubReplayTests {
    @Test func replaysWhatWasMissedThenContinuesLive() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        var ids: [String] = []
        for index in 1...5 { ids.append(try await hub.publish(Update(topics: ["t"], data: "\(index)"))) }
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: ids[1]))
        #expect(subscription.replayFound)
        #expect(subscription.lastEventID == ids[4])
        let (recorder, _) = record(subscription)
        try await hub.publish(Update(topics: ["t"], data: "6"))
        await recorder.waitForEvents(4)
        #expect(recorder.events.map(\.data) == ["3", "4", "5", "6"])
        #expect(Array(recorder.events.map(\.id).prefix(3)) == ids[2...4].map { Optional($0) })
    }

    @Test func earliestReplaysAllRetainedHistory() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        for index in 1...3 { try await hub.publish(Update(topics: ["t"], data: "\(index)")) }
        try await hub.publish(Update(topics: ["other"], data: "skip"))
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: "earliest")))
        await recorder.waitForEvents(3)
        #expect(recorder.events.map(\.data) == ["1", "2", "3"])
    }

    @Test func historyIsBounded() async throws {
        var configuration = HubConfiguration()
        configuration.historySize = 3
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        var ids: [String] = []
        for index in 1...5 { ids.append(try await hub.publish(Update(topics: ["t"], data: "\(index)"))) }
        #expect(hub.statistics.historyCount == 3)
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: "earliest")))
        await recorder.waitForEvents(3)
        #expect(recorder.events.map(\.data) == ["3", "4", "5"])
        // An evicted id is not in history any more: the stream says so, and replays nothing.
        let evicted = try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: ids[0]))
        #expect(!evicted.replayFound)
        let (gapRecorder, _) = record(evicted)
        try await hub.publish(Update(topics: ["t"], data: "6"))
        await gapRecorder.waitForEvents(2)
        #expect(gapRecorder.events.map(\.event) == [Hub.gapEventType, nil])
        #expect(gapRecorder.events.last?.data == "6")
        evicted.cancel()
    }

    /// An unknown id: the stream starts with the gap event (nothing replayed), then goes live.
    /// Events arrive in order, so a replayed "old" would come before "new" and be caught here.
    @Test func unknownLastEventIDStartsWithTheGapEventThenGoesLive() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        try await hub.publish(Update(topics: ["t"], data: "old"))
        let subscription = try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: "nope"))
        #expect(!subscription.replayFound)
        let (recorder, _) = record(subscription)
        try await hub.publish(Update(topics: ["t"], data: "new"))
        await recorder.waitForEvents(2)
        #expect(recorder.events.map(\.event) == [Hub.gapEventType, nil])
        #expect(recorder.events.map(\.data) == [#"{"lastEventID":"nope"}"#, "new"])
        #expect(recorder.events.first?.id == nil, "the gap event has no id: the client keeps its last one")
    }

    /// Subscribers join at random points while a publisher runs flat out; each must see exactly
    /// the events after its Last-Event-ID, in order: no gap, no duplicate.
    @Test func replayAndLiveJoinWithoutGapOrDuplicateUnderConcurrentPublishing() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let total = 3000
        let publisher = Task {
            var ids: [String] = []
            for index in 0..<total {
                ids.append(try await hub.publish(Update(topics: ["race"], data: "\(index)", id: "e\(index)")))
                if index % 100 == 0 { await Task.yield() }
            }
            return ids
        }
        var joined: [(start: Int, recorder: StreamRecorder)] = []
        for round in 0..<30 {
            // Join from a recent point (while publishing continues); before the first event,
            // from `earliest`, so an event published between the read and the join is replayed.
            let last = hub.lastEventID
            let start = last.map { Int($0.dropFirst())! + 1 } ?? 0
            let subscription = try await hub.subscribe(
                SubscribeRequest(selectors: selectors("race"), lastEventID: last ?? Update.earliestID)
            )
            let (recorder, _) = record(subscription)
            joined.append((start, recorder))
            try await Task.sleep(for: .microseconds(200 + round * 37))
        }
        _ = try await publisher.value
        for (start, recorder) in joined {
            await recorder.waitForEvents(total - start, timeout: .seconds(20))
            let received = recorder.events.map { Int($0.data)! }
            #expect(received == Array(start..<total), "subscriber joining at \(start)")
        }
    }
}
