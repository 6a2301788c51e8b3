import HeraldTestSupport
import HeraldRedis
import HeraldTesting
import NIOCore
import Testing

extension RedisIntegrationTests {
    @Suite("Pub/sub on a real server")
    struct PubSub {
        static let protocols: [RedisConfiguration.ProtocolPreference] = [.resp3, .resp2]

        @Test("A message published on another connection arrives with channel and payload", arguments: protocols)
        func subscribeAndPublish(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(server.configuration(protocolPreference: protocolPreference))
                try await harness.waitForConnected()
                try await harness.subscriber.subscribe(["news"])
                let publisher = try await server.connect()
                #expect(try await publisher.send(["PUBLISH", "news", "hello"]) == .integer(1))
                try await harness.waitForMessage(message("news", "hello"))

                // The subscriber's connection really speaks the protocol under test.
                let subscriberLine = try await server.clientList().first { clientField("sub", in: $0) == "1" }
                #expect(subscriberLine.flatMap { clientField("resp", in: $0) } == (protocolPreference == .resp3 ? "3" : "2"))

                await publisher.close()
                try await harness.stop()
            }
        }

        @Test("Binary payloads pass through unchanged", arguments: protocols)
        func binaryPayload(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(
                    server.configuration(protocolPreference: protocolPreference), channels: ["bin"]
                )
                try await harness.waitForConnected()
                let payload = ByteBuffer(bytes: (0...255).map { UInt8($0) })
                let publisher = try await server.connect()
                _ = try await publisher.send([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: "bin"), payload])
                try await harness.waitForMessage(RedisPubSubMessage(channel: "bin", payload: payload))
                await publisher.close()
                try await harness.stop()
            }
        }

        @Test("psubscribe delivers matching channels with the pattern", arguments: protocols)
        func patterns(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(server.configuration(protocolPreference: protocolPreference))
                try await harness.waitForConnected()
                try await harness.subscriber.psubscribe(["news.*"])
                let publisher = try await server.connect()
                #expect(try await publisher.send(["PUBLISH", "news.tech", "chips"]) == .integer(1))
                #expect(try await publisher.send(["PUBLISH", "sports", "goal"]) == .integer(0))
                try await harness.waitForMessage(message("news.tech", "chips", pattern: "news.*"))
                #expect(harness.messages == [message("news.tech", "chips", pattern: "news.*")])
                await publisher.close()
                try await harness.stop()
            }
        }

        @Test("Unsubscribing stops delivery; health-check pings keep working afterwards", arguments: protocols)
        func unsubscribing(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(
                    server.configuration(protocolPreference: protocolPreference),
                    options: RedisSubscriberOptions(healthCheckInterval: .milliseconds(100), replyTimeout: .seconds(1)),
                    channels: ["a", "b"], patterns: ["p.*"]
                )
                try await harness.waitForConnected()
                // Health checks while subscribed: RESP2 answers them with ["pong", ""] arrays.
                try await Task.sleep(for: .milliseconds(500))
                #expect(harness.disconnectedCount == 0)
                let publisher = try await server.connect()
                try await harness.subscriber.unsubscribe(["a"])
                #expect(harness.subscriber.channels == ["b"])
                #expect(try await publisher.send(["PUBLISH", "a", "x"]) == .integer(0))
                #expect(try await publisher.send(["PUBLISH", "b", "x"]) == .integer(1))
                try await harness.subscriber.unsubscribe()
                try await harness.subscriber.punsubscribe()
                #expect(harness.subscriber.channels.isEmpty && harness.subscriber.patterns.isEmpty)
                #expect(try await publisher.send(["PUBLISH", "b", "x"]) == .integer(0))
                #expect(try await publisher.send(["PUBLISH", "p.1", "x"]) == .integer(0))
                // Several health checks run now, in and out of subscribed mode; none may fail.
                try await Task.sleep(for: .milliseconds(600))
                #expect(harness.disconnectedCount == 0)
                #expect(harness.subscriber.isConnected)
                await publisher.close()
                try await harness.stop()
            }
        }

        @Test("Subscriptions made before run() are in place when .connected is reported")
        func subscribeBeforeRun() async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(server.configuration(), channels: ["early"], patterns: ["ea*"])
                try await harness.waitForConnected()
                let publisher = try await server.connect()
                #expect(try await publisher.send(["PUBLISH", "early", "bird"]) == .integer(2))
                try await harness.waitForMessage(message("early", "bird"))
                try await harness.waitForMessage(message("early", "bird", pattern: "ea*"))
                #expect(harness.recorder.elements.first == .connected)
                await publisher.close()
                try await harness.stop()
            }
        }

        @Test("A refused subscription throws RedisError, is forgotten, and the subscriber keeps working",
              arguments: protocols)
        func refusedSubscription(protocolPreference: RedisConfiguration.ProtocolPreference) async throws {
            try await withRedisServer(extraArguments: ["--requirepass", "s3cret"]) { server in
                let admin = try await server.connect(password: "s3cret")
                _ = try await admin.send(
                    ["ACL", "SETUSER", "bob", "on", ">pw", "~*", "resetchannels", "&allowed*", "+@all"]
                )
                var configuration = server.configuration(protocolPreference: protocolPreference)
                configuration.username = "bob"
                configuration.password = "pw"
                let harness = try await SubscriberHarness.start(configuration)
                try await harness.waitForConnected()
                await #expect {
                    try await harness.subscriber.subscribe(["forbidden"])
                } throws: { ($0 as? RedisError)?.code == "NOPERM" }
                #expect(harness.subscriber.channels.isEmpty)
                try await harness.subscriber.subscribe(["allowed.1"])
                #expect(try await admin.send(["PUBLISH", "allowed.1", "ok"]) == .integer(1))
                try await harness.waitForMessage(message("allowed.1", "ok"))
                await admin.close()
                try await harness.stop()
            }
        }

        @Test("close() ends run() and the event stream")
        func closing() async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(server.configuration(), channels: ["c"])
                try await harness.waitForConnected()
                try await harness.stop()
                #expect(!harness.subscriber.isConnected)
                #expect(harness.recorder.elements == [.connected, .disconnected])
                // The server no longer has a subscriber.
                try await waitUntil("subscriber connection to go") {
                    try await server.clientList().allSatisfy { clientField("sub", in: $0) == "0" }
                }
            }
        }

        @Test("Cancelling the task running run() stops the subscriber")
        func cancelling() async throws {
            try await withRedisServer { server in
                let harness = try await SubscriberHarness.start(server.configuration(), channels: ["c"])
                try await harness.waitForConnected()
                harness.runTask.cancel()
                let runTask = harness.runTask
                try await withTimeout(.seconds(5), "run() to return after cancellation") { await runTask.value }
                try await harness.recorder.waitForEnd()
                #expect(!harness.subscriber.isConnected)
            }
        }
    }
}
