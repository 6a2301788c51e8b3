import HeraldTestSupport
import HeraldHub
import HeraldRedis
import Testing

extension RedisIntegrationTests {
    /// The shared subscription registry under churn: batched writes, a cost per subscriber
    /// (not per selector), and a list that ends up right.
    @Suite("Redis registry: churn costs O(subscribers) commands")
    struct Registry {
        @Test func churnOfManySubscribersWithManySelectorsTakesFewCommands() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let node = try await HeraldNode.start(server.configuration())
                let watcher = try await HeraldNode.start(server.configuration())
                let selectorsPerSubscriber = 32
                let churned = 60
                let before = try await Self.registryCommands(admin)
                let evalsBefore = try await admin.calls(of: ["eval", "evalsha"])
                var kept: [EventRecorder] = []
                for index in 0..<churned {
                    let topics = (0..<selectorsPerSubscriber).map { "/churn/\(index)/\($0)" }
                    let recorder = try await node.follow(topics)
                    if index % 3 == 0 { kept.append(recorder) } else { recorder.stop() }
                }
                let keptIDs = Set(kept.map(\.subscription.id))
                // The other node's view of the shared registry settles on the ones kept.
                try await waitUntil("registry lists exactly the kept subscriptions") {
                    let listed = await watcher.hub.subscriptionsSnapshot().subscriptions.map(\.id)
                    return Set(listed) == keptIDs
                }
                let used = try await Self.registryCommands(admin) - before
                // A batch is one HSET, one EXPIRE and one HDEL (a subscription that ended before
                // its batch was written costs nothing): at most 3 commands per subscriber, never
                // one per selector, and no presence publish (EVAL) with presence off.
                #expect(used <= 3 * churned + 4, "registry commands: \(used)")
                #expect(try await admin.calls(of: ["eval", "evalsha"]) - evalsBefore == 0)
                for recorder in kept { recorder.stop() }
                try await waitUntil("registry empty") {
                    await watcher.hub.subscriptionsSnapshot().subscriptions.isEmpty
                }
                await node.stop()
                await watcher.stop()
                await admin.close()
            }
        }

        /// HSET, HDEL and EXPIRE calls the server has run so far.
        private static func registryCommands(_ admin: RedisConnection) async throws -> Int {
            try await admin.calls(of: ["hset", "hdel", "expire"])
        }
    }
}
