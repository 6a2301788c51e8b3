import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

@Suite struct HubSlowConsumerTests {
    /// A client that stops reading blocks its writer forever; once its queue passes the bound it
    /// is dropped (its stuck write cancelled), while a healthy subscriber gets everything.
    @Test func stalledSubscriberIsDroppedAtItsBoundAndOthersAreUnaffected() async throws {
        var configuration = HubConfiguration()
        configuration.maxQueuedBytes = 64 * 1024
        configuration.maxQueuedEvents = 10_000
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }

        let stalled = try await hub.subscribe(SubscribeRequest(selectors: selectors("firehose")))
        let stalledTask = Task { () -> StreamCloseReason? in
            try? await stalled.stream { _ in try await Task.sleep(for: .seconds(3600)) }
        }
        let (healthy, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("firehose"))))

        let payload = String(repeating: "x", count: 1024)
        let count = 1000  // ~1 MiB in all, 16x the stalled subscriber's bound
        for index in 0..<count {
            try await hub.publish(Update(topics: ["firehose"], data: payload, id: "p\(index)"))
            // The healthy reader keeps up (well inside its bound); the stalled one never reads.
            if index % 16 == 15 { await healthy.waitForEvents(index + 1) }
        }
        #expect(await stalledTask.value == .tooSlow)
        #expect(hub.statistics.dropped == 1)
        await healthy.waitForEvents(count, timeout: .seconds(20))
        #expect(healthy.events.count == count)
        #expect(healthy.events.last?.id == "p\(count - 1)")
        try await waitUntil { hub.statistics.subscribers == 1 }
        #expect(hub.statistics.subscribers == 1)
    }

    @Test func eventCountBoundAlsoDrops() async throws {
        var configuration = HubConfiguration()
        configuration.maxQueuedEvents = 10
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        let stalled = try await hub.subscribe(SubscribeRequest(selectors: selectors("t")))
        let task = Task { () -> StreamCloseReason? in
            try? await stalled.stream { _ in try await Task.sleep(for: .seconds(3600)) }
        }
        for index in 0..<100 { try await hub.publish(Update(topics: ["t"], data: "\(index)")) }
        #expect(await task.value == .tooSlow)
    }

    /// A reconnecting client with a backlog larger than its live bound still catches up: replay
    /// does not count against the bound.
    @Test func largeReplayDoesNotCountAgainstTheBound() async throws {
        var configuration = HubConfiguration()
        configuration.maxQueuedEvents = 10
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        for index in 0..<500 { try await hub.publish(Update(topics: ["t"], data: "\(index)")) }
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: "earliest")))
        await recorder.waitForEvents(500)
        #expect(recorder.events.map(\.data) == (0..<500).map(String.init))
    }
}
