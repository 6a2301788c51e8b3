import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A real client that sends its GET and then never reads: the server must drop it once its
/// outbound bound is passed, and keep serving a healthy subscriber in full.
@Suite struct StalledClientTests {
    @Test(arguments: [TestServer.Pipeline.herald, .router])
    func clientThatStopsReadingIsDroppedWhileOthersGetEverything(pipeline: TestServer.Pipeline) async throws {
        var hub = HubConfiguration()
        hub.maxQueuedBytes = 256 * 1024
        try await TestServer.run(hub: hub, pipeline: pipeline) { server in
            let stalled = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.autoRead, value: false)
                .channelOption(.socketOption(.so_rcvbuf), value: 4096)
                .connect(host: "127.0.0.1", port: server.port).get()
            defer { stalled.close(promise: nil) }
            // Server and hub share the singleton loops, so this exercises the direct-write path.
            #expect(server.hub.hasShard(on: stalled.eventLoop))
            try await stalled.writeAndFlush(
                ByteBuffer(string: "GET /.well-known/mercure?topic=firehose HTTP/1.1\r\nHost: x\r\n\r\n")
            ).get()
            let client = try server.client()
            let (healthy, close) = try await client.subscribe(topics: ["firehose"])
            defer { close() }
            try await waitUntil { server.hub.statistics.subscribers == 2 }

            // ~16 MiB in all: far past the stalled client's socket buffers and its 256 KiB bound.
            let payload = String(repeating: "x", count: 16 * 1024)
            let count = 1000
            let progress = Progress()
            let reader = Task { () -> [String?] in
                var ids: [String?] = []
                for try await element in healthy {
                    guard case .event(let event) = element else { continue }
                    ids.append(event.id)
                    progress.received.store(ids.count, ordering: .relaxed)
                    if ids.count == count { break }
                }
                return ids
            }
            for index in 0..<count {
                try await server.hub.publish(Update(topics: ["firehose"], data: payload, id: "p\(index)"))
                // The healthy reader stays within a few events (well inside its bound).
                let deadline = ContinuousClock.now + .seconds(20)
                while index - progress.received.load(ordering: .relaxed) > 4 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            let received = try await reader.value
            #expect(received == (0..<count).map { "p\($0)" })
            try await waitUntil(timeout: .seconds(10)) { server.hub.statistics.dropped == 1 }
            #expect(server.hub.statistics.dropped == 1)
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            #expect(server.hub.statistics.subscribers == 1)
        }
    }
}

private final class Progress: Sendable {
    let received = Atomic<Int>(0)
}
