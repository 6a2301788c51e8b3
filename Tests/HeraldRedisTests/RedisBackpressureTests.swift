import HeraldTestSupport
import Dispatch
import HeraldHub
import HeraldRedis
import NIOCore
import NIOPosix
import Testing

extension RedisIntegrationTests {
    /// A consumer that falls behind leaves the backlog in Redis, not in this process.
    @Suite("Slow consumers on a real server")
    struct Backpressure {
        @Test(
            "A consumer that stops taking messages pauses reading; the connection lives and nothing is lost",
            arguments: [RedisConfiguration.ProtocolPreference.resp3, .resp2]
        )
        func pausedReadingKeepsEverything(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let subscriber = RedisSubscriber(
                    configuration: server.configuration(protocolPreference: protocolPreference),
                    options: RedisSubscriberOptions(
                        healthCheckInterval: .milliseconds(100), replyTimeout: .seconds(1), maxBufferedMessages: 64
                    ),
                    logger: testLogger
                )
                try await subscriber.subscribe(["flood"])
                let run = Task { await subscriber.run() }
                var events = subscriber.events.makeAsyncIterator()
                #expect(await events.next() == .connected)

                let publisher = try await server.connect()
                let padding = String(repeating: "p", count: 300)
                let count = 10_000  // about 3.3 MB
                let flood = "for i = 0, tonumber(ARGV[1]) - 1 do redis.call('PUBLISH', KEYS[1], i .. ' ' .. ARGV[2]) end"
                _ = try await publisher.send(["EVAL", flood, "1", "flood", String(count), padding])
                try await waitUntil("reading paused") { subscriber.isReadingPaused }
                // Longer than the reply timeout: a PING sent now would fail and drop the connection.
                try await Task.sleep(for: .milliseconds(1_300))
                let buffered = subscriber.bufferedMessages
                #expect(buffered >= 64)
                // The bound plus at most one read of 64 KiB (messages are over 300 bytes each).
                #expect(buffered <= 64 + 65_536 / 300, "the rest waits in Redis and the kernel, not in this process")
                // A subscription change while paused reads on until its confirmation (behind
                // every message queued before it) instead of timing out.
                try await subscriber.subscribe(["second"])
                #expect(subscriber.isConnected)

                var received = 0
                var outOfOrder = 0
                while received < count, let event = await events.next() {
                    guard case .message(let message) = event else {
                        Issue.record("unexpected \(event) while draining")
                        break
                    }
                    if !String(buffer: message.payload).hasPrefix("\(received) ") { outOfOrder += 1 }
                    received += 1
                }
                #expect(received == count)
                #expect(outOfOrder == 0)
                #expect(!subscriber.isReadingPaused)
                #expect(subscriber.bufferedMessages == 0)
                await publisher.close()
                await subscriber.close()
                await run.value
            }
        }

        /// Node B's shard is stuck: B's hub takes no more than its fan-out bound, its broker stops
        /// reading Redis, and once the shard runs again B's subscriber gets everything, in order.
        @Test func aNodeWhoseFanOutIsBehindStopsReadingRedisAndLosesNothing() async throws {
            try await withRedisServer { server in
                let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                var stuck = HubConfiguration()
                stuck.eventLoopGroup = group
                stuck.maxFanOutBacklog = 4
                let a = try await HeraldNode.start(server.configuration())
                let b = try await HeraldNode.start(server.configuration(), maxBufferedMessages: 16, hubConfiguration: stuck)
                let onB = try await b.follow(["f"])
                _ = try await a.hub.publish(Update(topics: ["f"], data: "warm-up"))
                try await onB.waitFor(1)

                let gate = DispatchSemaphore(value: 0)
                group.next().execute { gate.wait() }  // B's only shard cannot run until the gate opens
                for index in 0..<300 { _ = try await a.hub.publish(Update(topics: ["f"], data: "\(index)")) }
                try await waitUntil("node B stops reading Redis") { b.broker.isLiveIntakePaused }
                #expect(b.hub.statistics.dispatched <= 1 + 5, "the warm-up, then up to one past the bound")
                #expect(onB.events.count == 1)

                gate.signal()
                try await onB.waitFor(301)
                try await Task.sleep(for: .milliseconds(100))
                #expect(onB.data == ["warm-up"] + (0..<300).map(String.init))
                #expect(!b.broker.isLiveIntakePaused)
                await a.stop()
                await b.stop()
                try await group.shutdownGracefully()
            }
        }

        /// The live intake under backpressure and a lost connection at once: node B's fan-out is
        /// stuck while updates pile up (held back in B and in Redis), B's pub/sub connection is
        /// cut meanwhile and more is published while it is gone, then the fan-out runs again.
        /// B must deliver what it held, notice the loss, catch up from the stream and go on
        /// live: every update exactly once, in publish order (no loss, no duplicate, no reorder).
        @Test func backpressureAcrossALostConnectionLosesNothingAndRepeatsNothing() async throws {
            try await withRedisServer { server in
                let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                var stuck = HubConfiguration()
                stuck.eventLoopGroup = group
                stuck.maxFanOutBacklog = 4
                let admin = try await server.connect()
                let a = try await HeraldNode.start(server.configuration())
                let b = try await HeraldNode.start(server.configuration(), maxBufferedMessages: 8, hubConfiguration: stuck)
                let onB = try await b.follow(["f"])
                _ = try await a.hub.publish(Update(topics: ["f"], data: "warm-up"))
                try await onB.waitFor(1)

                let gate = DispatchSemaphore(value: 0)
                group.next().execute { gate.wait() }
                for index in 0..<200 { _ = try await a.hub.publish(Update(topics: ["f"], data: "\(index)")) }
                try await waitUntil("node B stops reading Redis") { b.broker.isLiveIntakePaused }
                _ = try await admin.send(["CLIENT", "KILL", "TYPE", "pubsub"])
                for index in 200..<400 { _ = try await a.hub.publish(Update(topics: ["f"], data: "\(index)")) }
                #expect(onB.events.count == 1)

                gate.signal()
                try await onB.waitFor(401, timeout: .seconds(20))
                try await waitUntil("node B connected again") { b.broker.isConnected }
                for index in 400..<450 { _ = try await a.hub.publish(Update(topics: ["f"], data: "\(index)")) }
                try await onB.waitFor(451, timeout: .seconds(20))
                try await Task.sleep(for: .milliseconds(200))
                #expect(onB.data == ["warm-up"] + (0..<450).map(String.init))
                #expect(!b.broker.isLiveIntakePaused)
                await admin.close()
                await a.stop()
                await b.stop()
                try await group.shutdownGracefully()
            }
        }
    }
}
