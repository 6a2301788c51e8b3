import HeraldTestSupport
import HeraldHub
import HeraldRedis
import NIOCore
import Testing

extension RedisIntegrationTests {
    /// Two Herald nodes in this process, sharing one real redis-server.
    @Suite("Redis broker: nodes act as one hub")
    struct Broker {
        @Test func publishOnOneNodeReachesSubscribersOfAnother() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration())
                let b = try await HeraldNode.start(server.configuration())
                let onB = try await b.follow(["news"])
                let onA = try await a.follow(["news"])
                let id = try await a.hub.publish(Update(topics: ["news"], data: "hello"))
                try await onB.waitFor(1)
                try await onA.waitFor(1)
                #expect(onB.events.first?.data == "hello")
                #expect(onB.events.first?.id == id)
                #expect(UpdatePosition(id) != nil, "the id is the Redis stream id")
                let custom = try await b.hub.publish(Update(topics: ["news"], data: "mine", id: "custom-1"))
                #expect(custom == "custom-1")
                try await onA.waitFor(2)
                #expect(onA.events.map(\.id) == [id, "custom-1"])
                await a.stop()
                await b.stop()
            }
        }

        /// Commands that race to open the broker's command connection share one: before, each
        /// opened its own and the last replaced (and closed) the others' mid-command.
        @Test func concurrentFirstCommandsShareOneConnectionAndAllSucceed() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let before = try await Self.connectionsReceived(admin)
                let broker = RedisBroker(configuration: RedisBrokerConfiguration(redis: server.configuration()))
                let ids = try await withThrowingTaskGroup(of: String.self) { group in
                    for index in 0..<32 {
                        group.addTask { try await broker.publish(Update(topics: ["race"], data: "\(index)")) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(Set(ids).count == 32)
                #expect(try await Self.connectionsReceived(admin) - before == 1, "one command connection")
                await admin.close()
            }
        }

        private static func connectionsReceived(_ admin: RedisConnection) async throws -> Int {
            let info = try await admin.send(["INFO", "stats"]).string ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_connections_received:") }
            return try #require(line.flatMap { Int($0.split(separator: ":")[1]) })
        }

        @Test func aNodeStartedLaterReplaysFromTheStreamThenFollowsLiveWithoutDuplicates() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration())
                var ids: [String] = []
                for index in 1...5 {
                    ids.append(try await a.hub.publish(Update(topics: ["r"], data: "\(index)", id: index == 3 ? "third" : nil)))
                }
                let b = try await HeraldNode.start(server.configuration())
                let fromSecond = try await b.follow(["r"], lastEventID: ids[1])
                let fromCustom = try await b.follow(["r"], lastEventID: "third")
                let fromStart = try await b.follow(["r"], lastEventID: "earliest")
                let unknown = try await b.follow(["r"], lastEventID: "9999999999999-0")
                _ = try await a.hub.publish(Update(topics: ["r"], data: "6"))
                try await fromSecond.waitFor(4)
                try await fromCustom.waitFor(3)
                try await fromStart.waitFor(6)
                try await unknown.waitFor(2)
                try await Task.sleep(for: .milliseconds(100))
                #expect(fromSecond.data == ["3", "4", "5", "6"])
                #expect(fromCustom.data == ["4", "5", "6"])
                #expect(fromStart.data == ["1", "2", "3", "4", "5", "6"])
                // A stream id after the stream's end is unknown: the gap event, then live.
                #expect(unknown.events.map(\.event) == [Hub.gapEventType, nil])
                #expect(unknown.data.last == "6")
                await a.stop()
                await b.stop()
            }
        }

        /// While one node's pub/sub connection is down, another keeps publishing; the node
        /// catches up from the stream when it is back, in order and without duplicates.
        @Test func aNodeThatLostItsSubscriptionCatchesUpFromTheStream() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration())
                // B waits 1 s before reconnecting, so what A publishes meanwhile is surely missed live.
                let b = try await HeraldNode.start(server.configuration(), reconnectDelay: .seconds(1))
                let onB = try await b.follow(["c"])
                for index in 0..<5 { _ = try await a.hub.publish(Update(topics: ["c"], data: "\(index)")) }
                try await onB.waitFor(5)
                let admin = try await server.connect()
                _ = try await admin.send(["CLIENT", "KILL", "TYPE", "pubsub"])
                for index in 5..<200 { _ = try await a.hub.publish(Update(topics: ["c"], data: "\(index)")) }
                try await onB.waitFor(200, timeout: .seconds(15))
                try await Task.sleep(for: .milliseconds(200))
                #expect(onB.data == (0..<200).map(String.init))
                #expect(b.broker.caughtUpCount > 0, "some updates came from the stream, not pub/sub")
                await admin.close()
                await a.stop()
                await b.stop()
            }
        }

        /// Redis dies mid-stream: subscribers stay connected, publishing answers "unavailable",
        /// and after Redis returns (empty: it keeps nothing on disk here) publishing resumes and
        /// a subscriber that reconnects with its last id misses nothing.
        @Test func redisRestartLosesNoEventForSubscribers() async throws {
            var server = try await RedisServerProcess.start()
            defer { server.stop() }
            let a = try await HeraldNode.start(server.configuration())
            let b = try await HeraldNode.start(server.configuration())
            let follower = try await b.follow(["k"])
            for index in 0..<3 { _ = try await a.hub.publish(Update(topics: ["k"], data: "\(index)")) }
            try await follower.waitFor(3)

            server.stop()
            try await waitUntil("node B notices") { !b.broker.isConnected }
            await #expect(throws: HubError.self) { try await a.hub.publish(Update(topics: ["k"], data: "lost")) }
            #expect(b.hub.statistics.subscribers == 1, "the SSE subscriber stays connected")

            server = try await server.restart()
            try await waitUntil("node B resubscribed", timeout: .seconds(15)) { b.broker.isConnected }
            try await waitUntil("node A can publish again", timeout: .seconds(15)) {
                (try? await a.hub.publish(Update(topics: ["k"], data: "3"))) != nil
            }
            for index in 4..<6 { _ = try await a.hub.publish(Update(topics: ["k"], data: "\(index)")) }
            try await follower.waitFor(6)
            #expect(follower.data == ["0", "1", "2", "3", "4", "5"])

            // The subscriber drops and reconnects with its last id while more is published.
            let lastID = try #require(follower.events[3].id)
            follower.stop()
            _ = try await a.hub.publish(Update(topics: ["k"], data: "6"))
            let resumed = try await b.follow(["k"], lastEventID: lastID)
            try await resumed.waitFor(3)
            try await Task.sleep(for: .milliseconds(100))
            #expect(resumed.data == ["4", "5", "6"])
            await a.stop()
            await b.stop()
        }

        @Test func subscriptionsAndPresenceSpanNodes() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration(), presence: true)
                let b = try await HeraldNode.start(server.configuration(), presence: true)
                let presenceTopic = SubscriptionResource.basePath + "/{topic}/{subscriber}"
                let watcher = try await b.follow([presenceTopic], claims: ["*"])
                let member = try await a.follow(["/rooms/lobby"])
                try await waitUntil("member listed on node B") {
                    await b.hub.subscriptionsSnapshot().subscriptions.contains { $0.id == member.subscription.id }
                }
                // The watcher may first see its own subscription's presence update.
                try await waitUntil("active presence update on node B") {
                    watcher.events.contains { $0.data.contains("\"topic\":\"/rooms/lobby\"") && $0.data.contains("\"active\":true") }
                }

                member.stop()
                try await waitUntil("member gone from node B's list") {
                    await !b.hub.subscriptionsSnapshot().subscriptions.contains { $0.id == member.subscription.id }
                }
                try await waitUntil("inactive presence update on node B") {
                    watcher.events.contains { $0.data.contains("/rooms/lobby") && $0.data.contains("\"active\":false") }
                }
                await a.stop()
                await b.stop()
            }
        }
    }
}
