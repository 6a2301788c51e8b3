import HeraldTestSupport
import HeraldHub
import HeraldRedis
import Testing

extension RedisIntegrationTests {
    @Suite("Redis broker: catch-up never skips")
    struct CatchUp {
        /// Node B loses its pub/sub connection while node A publishes, and its catch-up reads
        /// fail (its Redis user may not XRANGE) while more arrives live: B retries, counts the
        /// retries, and delivers nothing newer until the reads work again; then every update
        /// reaches its subscriber once, in order. Before, B gave up after the first failed
        /// XRANGE and the live updates moved it past the gap for good.
        @Test func aFailedCatchUpReadIsRetriedAndLiveUpdatesWaitForIt() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                // Node B's user may do everything but XRANGE (the catch-up read).
                _ = try await admin.send(["ACL", "SETUSER", "nodeb", "on", ">pw", "~*", "&*", "+@all", "-xrange"])
                var asB = server.configuration()
                asB.username = "nodeb"
                asB.password = "pw"
                let a = try await HeraldNode.start(server.configuration())
                let b = try await HeraldNode.start(asB)
                let onB = try await b.follow(["g"])
                for index in 0..<5 { _ = try await a.hub.publish(Update(topics: ["g"], data: "\(index)")) }
                try await onB.waitFor(5)

                // Cut every pub/sub connection; what A publishes before B is back is missed live.
                _ = try await admin.send(["CLIENT", "KILL", "TYPE", "pubsub"])
                for index in 5..<50 { _ = try await a.hub.publish(Update(topics: ["g"], data: "\(index)")) }
                try await waitUntil("node B back and retrying its catch-up") {
                    b.broker.isConnected && b.hub.statistics.brokerCatchUpRetries >= 2
                }
                // These arrive live on B's pub/sub connection, behind the failing catch-up.
                for index in 50..<100 { _ = try await a.hub.publish(Update(topics: ["g"], data: "\(index)")) }
                let retried = b.hub.statistics.brokerCatchUpRetries
                try await waitUntil("two more retries after the live updates") {
                    b.hub.statistics.brokerCatchUpRetries >= retried + 2
                }
                #expect(onB.data == (0..<5).map(String.init), "nothing past the gap was delivered")

                _ = try await admin.send(["ACL", "SETUSER", "nodeb", "+xrange"])
                try await onB.waitFor(100, timeout: .seconds(15))
                let retries = b.hub.statistics.brokerCatchUpRetries
                _ = try await a.hub.publish(Update(topics: ["g"], data: "100"))
                try await onB.waitFor(101)
                #expect(onB.data == (0...100).map(String.init), "every update once, in order")
                #expect(b.broker.caughtUpCount >= 45, "the missed ones came from the stream")
                #expect(b.hub.statistics.brokerCatchUpRetries == retries, "no retry once reads work")
                #expect(a.hub.statistics.brokerCatchUpRetries == 0)
                await admin.close()
                await a.stop()
                await b.stop()
            }
        }
    }
}
