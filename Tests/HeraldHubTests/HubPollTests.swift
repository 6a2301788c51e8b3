import HeraldHub
import NIOCore
import NIOPosix
import Synchronization
import ServerSentEvents
import Testing

/// `Hub.poll`: long-polling as a subscription that ends at its first batch or its timeout.
@Suite struct HubPollTests {
    private static func data(_ batch: PollBatch) -> [String] {
        var parser = ServerSentEventParser()
        var out: [String] = []
        for event in batch.events {
            for case .event(let parsed) in (try? parser.feed(event.bytes)) ?? [] { out.append(parsed.data) }
        }
        return out
    }

    @Test func aLongReplayIsCutAtTheByteBoundAndTheNextPollGoesOn() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        var ids: [String] = []
        for index in 0..<5 { ids.append(try await hub.publish(Update(topics: ["r"], data: "event \(index)"))) }
        var from = Update.earliestID
        var seen: [String] = []
        var polls = 0
        while seen.count < 5, polls < 10 {
            // Room for two events a poll (each is about 60 bytes), never less than one.
            let batch = try await hub.poll(
                SubscribeRequest(selectors: try selectors("r"), lastEventID: from),
                timeout: .seconds(5),
                maxBytes: 130
            )
            #expect(batch.end == .events)
            #expect(!batch.events.isEmpty && batch.events.count <= 2)
            seen += Self.data(batch)
            from = batch.nextEventID
            polls += 1
        }
        #expect(seen == (0..<5).map { "event \($0)" })
        #expect(from == ids.last)
        #expect(polls == 3)
        let tiny = try await hub.poll(SubscribeRequest(selectors: try selectors("r"), lastEventID: ids[0]), timeout: .seconds(5), maxBytes: 1)
        #expect(Self.data(tiny) == ["event 1"])
        #expect(tiny.nextEventID == ids[1])
        try await waitUntil { hub.statistics.subscribers == 0 }
        #expect(hub.statistics.subscribers == 0)
    }

    @Test func heartbeatsDoNotEndAPoll() async throws {
        // One event loop, so the poll and the stream below share the shard that sends heartbeats.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = HubConfiguration()
        configuration.heartbeatInterval = .milliseconds(20)
        configuration.eventLoopGroup = loop
        let hub = Hub(configuration: configuration)
        let request = SubscribeRequest(selectors: try selectors("h"))
        async let batch = hub.poll(request, timeout: .seconds(30))
        try await waitUntil { hub.statistics.subscribers == 1 }
        // A stream on the same shard sees three heartbeats while the poll keeps waiting.
        let stream = try await hub.subscribe(SubscribeRequest(selectors: try selectors("other")))
        let beats = HeartbeatCounter()
        Task { try await stream.stream { buffers in if beats.add(buffers.count) >= 3 { stream.cancel() } } }
        try await waitUntil(timeout: .seconds(10)) { beats.count >= 3 }
        #expect(beats.count >= 3)
        // The stream's cancel reaches its shard a little later: wait for it (the poll, still
        // waiting, is the one left; a poll ended by a heartbeat would leave none).
        try await waitUntil(timeout: .seconds(10)) { hub.statistics.subscribers == 1 }
        #expect(hub.statistics.subscribers == 1)
        try await hub.publish(Update(topics: ["h"], data: "real"))
        let result = try await batch
        #expect(Self.data(result) == ["real"])
        #expect(result.end == .events)
        hub.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func shutdownEndsAWaitingPoll() async throws {
        let hub = Hub()
        let request = SubscribeRequest(selectors: try selectors("s"))
        async let batch = hub.poll(request, timeout: .seconds(30))
        try await waitUntil { hub.statistics.subscribers == 1 }
        hub.shutdown()
        let result = try await batch
        #expect(result.end == .shutdown && result.events.isEmpty)
    }

    @Test func aCancelledPollEndsAtOnceAndKeepsNothing() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let request = SubscribeRequest(selectors: try selectors("c"))
        let task = Task { try await hub.poll(request, timeout: .seconds(30)) }
        try await waitUntil { hub.statistics.subscribers == 1 }
        task.cancel()
        let result = try await task.value
        #expect(result.end == .cancelled)
        try await waitUntil { hub.statistics.subscribers == 0 }
        #expect(hub.statistics.subscribers == 0)
    }
}

/// Counts the buffers (heartbeats) a stream wrote.
private final class HeartbeatCounter: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add(_ n: Int) -> Int { value.withLock { $0 += n; return $0 } }
}
