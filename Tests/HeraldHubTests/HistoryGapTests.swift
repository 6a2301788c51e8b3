import HeraldHub
import NIOCore
import ServerSentEvents
import Testing

/// Presence updates take a sequence number but are never kept in history: the ring's
/// sequences have holes. Replaying from an id after such holes must find the right place
/// (it crashed the server, an index past the ring's end, when the chat's presence ran).
@Suite struct HistoryGapTests {
    @Test func replayFromAnIDPublishedAfterPresenceUpdates() async throws {
        var configuration = HubConfiguration()
        configuration.publishesSubscriptionEvents = true
        let hub = Hub(configuration: configuration)
        let running = Task { try await hub.run() }  // announces presence
        defer {
            hub.shutdown()
            running.cancel()
        }
        var ids: [String] = []
        for index in 0..<4 {
            // Each subscription that starts and ends publishes presence (sequence numbers taken,
            // nothing stored); wait until the hub has dispatched them before the next update.
            let before = hub.statistics.dispatched
            let subscription = try await hub.subscribe(SubscribeRequest(selectors: try selectors("room-\(index)")))
            try await waitUntil(timeout: .seconds(10)) { hub.statistics.dispatched > before }
            subscription.cancel()
            try await waitUntil(timeout: .seconds(10)) { hub.statistics.dispatched > before + 1 }
            ids.append(try await hub.publish(Update(topics: ["t"], data: "\(index)")))
        }
        #expect(hub.statistics.historyCount == 4)
        #expect(hub.statistics.dispatched >= 12, "presence took sequence numbers between the updates")
        for (position, id) in ids.enumerated() {
            let batch = try await hub.poll(SubscribeRequest(selectors: try selectors("t"), lastEventID: id), timeout: .zero)
            var parser = ServerSentEventParser()
            var data: [String] = []
            for event in batch.events {
                for case .event(let parsed) in try parser.feed(event.bytes) { data.append(parsed.data) }
            }
            #expect(batch.replayFound)
            #expect(data == (position + 1..<4).map { "\($0)" }, "after \(position)")
        }
    }
}
