import HeraldTestSupport
import HeraldRedis
import NIOCore
import Testing

extension RedisIntegrationTests {
    @Suite("Subscriber reconnects on a real server")
    struct Reconnect {
        @Test("After the server is killed and restarted on the same port, the subscriber resubscribes and receives",
              arguments: [RedisConfiguration.ProtocolPreference.resp3, .resp2])
        func restart(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            var server = try await RedisServerProcess.start()
            defer { server.stop() }
            let harness = try await SubscriberHarness.start(
                server.configuration(protocolPreference: protocolPreference), channels: ["events"], patterns: ["ev*"]
            )
            try await harness.waitForConnected()

            server.stop()
            try await harness.waitForDisconnected()
            #expect(!harness.subscriber.isConnected)
            server = try await server.restart()
            try await harness.waitForConnected(count: 2, timeout: .seconds(15))

            let publisher = try await server.connect()
            #expect(try await publisher.send(["PUBLISH", "events", "after-restart"]) == .integer(2))
            try await harness.waitForMessage(message("events", "after-restart"))
            try await harness.waitForMessage(message("events", "after-restart", pattern: "ev*"))
            #expect(Array(harness.recorder.elements.prefix(3)) == [.connected, .disconnected, .connected])
            await publisher.close()
            try await harness.stop()
        }

        @Test("A frozen server is detected by the health check; the subscriber recovers when it thaws")
        func healthCheck() async throws {
            let server = try await RedisServerProcess.start()
            defer { server.stop() }
            let harness = try await SubscriberHarness.start(
                server.configuration(),
                options: RedisSubscriberOptions(healthCheckInterval: .milliseconds(150), replyTimeout: .seconds(1)),
                channels: ["alive"]
            )
            try await harness.waitForConnected()
            // Healthy pings for a while must not be mistaken for a dead connection.
            try await Task.sleep(for: .milliseconds(700))
            #expect(harness.disconnectedCount == 0)

            server.suspend()
            try await harness.waitForDisconnected(timeout: .seconds(5))
            server.resume()
            try await harness.waitForConnected(count: 2, timeout: .seconds(15))
            let publisher = try await server.connect()
            #expect(try await publisher.send(["PUBLISH", "alive", "again"]) == .integer(1))
            try await harness.waitForMessage(message("alive", "again"))
            await publisher.close()
            try await harness.stop()
        }
    }
}
