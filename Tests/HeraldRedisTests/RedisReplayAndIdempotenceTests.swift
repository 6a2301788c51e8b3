import HeraldTestSupport
import HeraldHub
import HeraldRedis
import NIOCore
import Testing

extension RedisIntegrationTests {
    /// Publisher ids stored once, `Last-Event-ID` found without scanning, and the gap signal,
    /// against a real redis-server.
    @Suite("Redis broker: idempotent publish, bounded replay lookups, gap signal")
    struct ReplayAndIdempotence {
        /// A publish retried with its id, on the same node or another, is stored and delivered once.
        @Test func aRetriedPublishIsStoredAndDeliveredOnceAcrossNodes() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration())
                let b = try await HeraldNode.start(server.configuration())
                let onA = try await a.follow(["o"])
                let onB = try await b.follow(["o"])
                #expect(try await a.hub.publish(Update(topics: ["o"], data: "first", id: "order-1")) == "order-1")
                #expect(try await b.hub.publish(Update(topics: ["o"], data: "retry", id: "order-1")) == "order-1")
                #expect(try await a.hub.publish(Update(topics: ["o"], data: "retry", id: "order-1")) == "order-1")
                _ = try await a.hub.publish(Update(topics: ["o"], data: "next", id: "order-2"))
                try await onA.waitFor(2)
                try await onB.waitFor(2)
                #expect(onA.data == ["first", "next"])
                #expect(onB.data == ["first", "next"])
                // Each node counts the retries its publish script recognised.
                #expect(a.hub.statistics.publishDuplicates == 1)
                #expect(b.hub.statistics.publishDuplicates == 1)
                let admin = try await server.connect()
                #expect(try await admin.send(["XLEN", "herald:updates"]).int == 2)
                await admin.close()
                await a.stop()
                await b.stop()
            }
        }

        /// The case seen under faults: Redis stores a publish but the answer is lost (here Redis
        /// is frozen past the command timeout, so the publisher gets 503); the publisher retries
        /// with the same id and the update is still delivered once.
        @Test func aPublishStoredButAnsweredUnavailableIsNotDuplicatedByItsRetry() async throws {
            try await withRedisServer { server in
                let node = try await HeraldNode.start(server.configuration(), commandTimeout: .milliseconds(300))
                let follower = try await node.follow(["o"])
                let admin = try await server.connect()
                // The node loads its publish script with its first publish; after that a publish
                // is one command, the one Redis stores while its answer is lost.
                _ = try await node.hub.publish(Update(topics: ["warm-up"], data: "loads the script"))
                server.suspend()
                await #expect(throws: HubError.self) {
                    try await node.hub.publish(Update(topics: ["o"], data: "once", id: "pay-42"))
                }
                server.resume()
                // Redis runs the command it had already received: the update is stored.
                try await waitUntil("the timed-out publish stored", timeout: .seconds(10)) {
                    (try? await admin.send(["XLEN", "herald:updates"]).int) == 2
                }
                try await waitUntil("the retry answered", timeout: .seconds(15)) {
                    (try? await node.hub.publish(Update(topics: ["o"], data: "once", id: "pay-42"))) == "pay-42"
                }
                _ = try await node.hub.publish(Update(topics: ["o"], data: "after", id: "pay-43"))
                try await follower.waitFor(2)
                #expect(follower.data == ["once", "after"])
                #expect(try await admin.send(["XLEN", "herald:updates"]).int == 3)
                await admin.close()
                await node.stop()
            }
        }

        /// The id index follows the stream: what the stream trims, the index forgets (so its
        /// memory is bounded and an id is "new" again once its update is gone).
        @Test func theIDIndexIsTrimmedWithTheStream() async throws {
            try await withRedisServer(extraArguments: ["--stream-node-max-entries", "4"]) { server in
                let node = try await HeraldNode.start(server.configuration(), historySize: 20)
                for index in 0..<300 {
                    _ = try await node.hub.publish(Update(topics: ["t"], data: "\(index)", id: index % 2 == 0 ? "p\(index)" : nil))
                }
                let admin = try await server.connect(protocolPreference: .resp2)  // HGETALL as a flat array
                let length = try #require(try await admin.send(["XLEN", "herald:updates"]).int)
                let indexed = try #require(try await admin.send(["HLEN", "herald:ids"]).int)
                let ordered = try #require(try await admin.send(["LLEN", "herald:ids:order"]).int)
                #expect(length < 40, "the stream is trimmed near 20 (\(length))")
                #expect(indexed == ordered)
                #expect(indexed <= (length + 1) / 2 + 1, "only the retained publisher ids (\(indexed) for \(length))")
                // Every indexed id points at an entry the stream still holds.
                let first = try #require(try await admin.send(["XRANGE", "herald:updates", "-", "+", "COUNT", "1"]).array?.first?.array?.first?.string)
                let pairs = try #require(try await admin.send(["HGETALL", "herald:ids"]).array)
                #expect(pairs.count == indexed * 2)
                for index in stride(from: 1, to: pairs.count, by: 2) {
                    let streamID = try #require(pairs[index].string.flatMap(UpdatePosition.init))
                    #expect(streamID >= UpdatePosition(first)!)
                }
                // An id whose update was trimmed is published again.
                let before = try #require(try await admin.send(["XLEN", "herald:updates"]).int)
                _ = try await node.hub.publish(Update(topics: ["t"], data: "again", id: "p0"))
                let lastEntry = try await admin.send(["XREVRANGE", "herald:updates", "+", "-", "COUNT", "1"])
                #expect(lastEntry.array?.first?.array?.last?.array?.last?.string?.contains("again") == true)
                #expect(try await admin.send(["XLEN", "herald:updates"]).int.map { $0 >= before - 4 } == true)
                await admin.close()
                await node.stop()
            }
        }

        /// Finding a Last-Event-ID the node does not hold costs one script run, with no stream
        /// scan: before, a random id made the node read up to twice the history with XREVRANGE.
        @Test func findingALastEventIDIsOneBoundedCommand() async throws {
            try await withRedisServer { server in
                let a = try await HeraldNode.start(server.configuration())
                for index in 0..<3_000 {
                    _ = try await a.hub.publish(Update(topics: ["t"], data: "\(index)", id: index == 2_990 ? "near-end" : nil))
                }
                let b = try await HeraldNode.start(server.configuration(), historySize: 5)
                let admin = try await server.connect()
                for asked in ["urn:uuid:random-\(UInt64.random(in: 0...UInt64.max))", "9999999999999-0", "near-end"] {
                    _ = try await admin.send(["CONFIG", "RESETSTAT"])
                    let follower = try await b.follow(["t"], lastEventID: asked)
                    let stats = try await admin.commandCalls()
                    // One script run (by its hash; loaded once per node, so at most one SCRIPT LOAD).
                    #expect(stats["eval", default: 0] + stats["evalsha", default: 0] == 1, "one script run for \(asked): \(stats)")
                    #expect(stats["script|load", default: 0] <= 1, "\(asked): \(stats)")
                    #expect(stats["xrevrange", default: 0] <= 1, "\(asked): \(stats)")
                    #expect(stats["xrange", default: 0] <= 2, "\(asked): \(stats)")
                    if asked == "near-end" {
                        try await follower.waitFor(9)
                        #expect(follower.data == (2_991..<3_000).map(String.init))
                    }
                    follower.stop()
                }
                await admin.close()
                await a.stop()
                await b.stop()
            }
        }

        /// Ids a client can send that look almost like stream ids, or like Redis range syntax:
        /// each gets a clean answer from the lookup script (no Redis error), as the protocol says.
        @Test func hostileLastEventIDsGetCleanAnswers() async throws {
            try await withRedisServer { server in
                let node = try await HeraldNode.start(server.configuration())
                for index in 0..<5 { _ = try await node.hub.publish(Update(topics: ["t"], data: "\(index)")) }
                let max = "18446744073709551615-18446744073709551615"
                let unknown = [
                    max, "99999999999999999999-0", "-", "+", "(1-1", "1-1 2", "1-", "-1", "0x10-1", "1-1-1",
                    String(repeating: "9", count: 10_000), "a\u{0}b", "' or 1=1 --", "]]..[[", "%s%s",
                ]
                for asked in unknown {
                    let history = try await node.broker.updates(after: asked, limit: 100)
                    #expect(history == nil, "\(asked.prefix(40)) is unknown")
                }
                // Stream ids before the stream: everything it holds, flagged as a gap.
                for asked in ["0-0", "0-1", "1-0"] {
                    let history = try #require(try await node.broker.updates(after: asked, limit: 100))
                    #expect(history.missedSome)
                    #expect(history.updates.map(\.data) == ["0", "1", "2", "3", "4"])
                }
                await node.stop()
            }
        }

        /// A node that joins after Redis restarted without persistence, asked to resume from a
        /// stream id published before the restart: the id is older than the new stream, so the
        /// subscriber is told of the gap and gets everything the new stream holds, then live.
        /// A node that stayed up still holds the old id and replays without a gap.
        @Test func aNodeJoiningAfterALossyRestartReplaysTheNewStreamAfterTheGapEvent() async throws {
            var server = try await RedisServerProcess.start()
            defer { server.stop() }
            let a = try await HeraldNode.start(server.configuration())
            var before: [String] = []
            for index in 0..<3 { before.append(try await a.hub.publish(Update(topics: ["k"], data: "old\(index)"))) }
            _ = try await a.hub.publish(Update(topics: ["k"], data: "old-custom", id: "custom-before"))
            // A node holds an update once it has read it back from Redis, not when the publish
            // is answered: stopping Redis before that would leave node A without them (and the
            // test failing ~1 time in 12 under load, with a gap on node A).
            try await waitUntil("node A holds its updates") { a.hub.lastEventID == "custom-before" }
            server.stop()
            try await waitUntil("node A notices") { !a.broker.isConnected }
            server = try await server.restart()
            try await waitUntil("node A can publish again", timeout: .seconds(15)) {
                (try? await a.hub.publish(Update(topics: ["k"], data: "new0"))) != nil
            }
            for index in 1..<4 { _ = try await a.hub.publish(Update(topics: ["k"], data: "new\(index)")) }

            let c = try await HeraldNode.start(server.configuration())
            let resumed = try await c.follow(["k"], lastEventID: before[1])
            let byCustomID = try await c.follow(["k"], lastEventID: "custom-before")
            let onA = try await a.follow(["k"], lastEventID: before[1])
            _ = try await a.hub.publish(Update(topics: ["k"], data: "live"))
            try await resumed.waitFor(6)
            #expect(resumed.events.first?.event == Hub.gapEventType)
            #expect(resumed.events.first?.data == #"{"lastEventID":"\#(before[1])"}"#)
            #expect(Array(resumed.data.dropFirst()) == ["new0", "new1", "new2", "new3", "live"])
            // A publisher's own id cannot be placed in time once Redis lost it: gap, then live.
            try await byCustomID.waitFor(2)
            #expect(byCustomID.events.map(\.event) == [Hub.gapEventType, nil])
            #expect(byCustomID.data.last == "live")
            try await onA.waitFor(7)
            #expect(onA.data == ["old2", "old-custom", "new0", "new1", "new2", "new3", "live"])
            #expect(onA.events.allSatisfy { $0.event == nil }, "node A held the id: no gap")
            await a.stop()
            await c.stop()
        }

        /// A stream id the stream trimmed away (and the node never held): the gap event, then
        /// everything the stream still holds, then live; nothing twice.
        @Test func aTrimmedStreamIDGetsTheGapEventThenWhatTheStreamHolds() async throws {
            try await withRedisServer(extraArguments: ["--stream-node-max-entries", "4"]) { server in
                let a = try await HeraldNode.start(server.configuration(), historySize: 10)
                var ids: [String] = []
                for index in 0..<100 { ids.append(try await a.hub.publish(Update(topics: ["t"], data: "\(index)"))) }
                let admin = try await server.connect()
                let held = try #require(try await admin.send(["XRANGE", "herald:updates", "-", "+"]).array)
                let firstHeld = try #require(held.first?.array?.first?.string)
                let firstIndex = try #require(ids.firstIndex(of: firstHeld))
                #expect(firstIndex > 1)
                let b = try await HeraldNode.start(server.configuration(), historySize: 10)
                let follower = try await b.follow(["t"], lastEventID: ids[0])
                _ = try await a.hub.publish(Update(topics: ["t"], data: "live"))
                let expected = (firstIndex..<100).map(String.init) + ["live"]
                try await follower.waitFor(expected.count + 1)
                #expect(follower.events.first?.event == Hub.gapEventType)
                #expect(Array(follower.data.dropFirst()) == expected)
                await admin.close()
                await a.stop()
                await b.stop()
            }
        }

        /// While Redis is down, a node cannot look up an id it does not hold: it says so with
        /// the gap event instead of silently replaying nothing.
        @Test func anIDThatCannotBeLookedUpBecauseRedisIsDownGetsTheGapEvent() async throws {
            var server = try await RedisServerProcess.start()
            defer { server.stop() }
            let a = try await HeraldNode.start(server.configuration(), commandTimeout: .milliseconds(500))
            _ = try await a.hub.publish(Update(topics: ["k"], data: "0"))
            server.stop()
            let follower = try await a.follow(["k"], lastEventID: "somewhere-else")
            try await follower.waitFor(1)
            #expect(follower.events.first?.event == Hub.gapEventType)
            server = try await server.restart()
            await a.stop()
        }
    }
}
