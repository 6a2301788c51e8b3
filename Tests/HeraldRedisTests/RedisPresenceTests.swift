import HeraldHub
import HeraldRedis
import HeraldTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

extension RedisIntegrationTests {
    /// Presence (subscription events) in Redis mode: live over pub/sub only, batched, with a
    /// cost per subscriber (not per selector) and a bounded queue.
    @Suite("Redis presence: batched, live-only, bounded")
    struct Presence {
        static let presenceTopic = SubscriptionResource.basePath + "/{topic}/{subscriber}"

        /// A subscriber on node B sees presence of a subscriber on node A (start and end), without
        /// an id; the subscriptions API on B lists A's subscriber; nothing enters the stream.
        @Test func presenceOfOneNodeReachesAnotherLiveOnly() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let a = try await HeraldNode.start(server.configuration(), presence: true)
                let b = try await HeraldNode.start(server.configuration(), presence: true)
                let watcher = try await b.follow([Self.presenceTopic], claims: ["*"])
                let member = try await a.follow(["/rooms/lobby", "/rooms/hall"])
                let memberID = member.subscription.id
                try await waitUntil("both presence updates of the member on node B") {
                    watcher.events.filter { $0.data.contains(memberID) && $0.data.contains("\"active\":true") }.count == 2
                }
                try await waitUntil("member listed by node B's subscriptions API") {
                    await b.hub.subscriptionsSnapshot().subscriptions.contains { $0.id == memberID }
                }
                member.stop()
                try await waitUntil("member's end announced on node B") {
                    watcher.events.filter { $0.data.contains(memberID) && $0.data.contains("\"active\":false") }.count == 2
                }
                try await waitUntil("member gone from node B's list") {
                    await !b.hub.subscriptionsSnapshot().subscriptions.contains { $0.id == memberID }
                }
                // Presence is never kept: no id on the wire, nothing in the stream or in history.
                #expect(watcher.events.allSatisfy { $0.id == nil })
                #expect(try await admin.send(["XLEN", "herald:updates"]).int == 0)
                #expect(a.hub.statistics.historyCount == 0 && b.hub.statistics.historyCount == 0)
                await a.stop()
                await b.stop()
                await admin.close()
            }
        }

        /// What arrives on `herald:presence` from anyone but a Herald node: a payload that is
        /// not a JSON array of updates is ignored and logged, one log line each; a well-formed one
        /// whose updates are not subscription events delivers nothing (presence cannot be used
        /// to inject updates). The node carries on: updates and real presence still flow.
        @Test func malformedPresenceMessagesAreIgnoredAndLogged() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let logged = NIOLockedValueBox<[String]>([])
                let node = try await HeraldNode.start(
                    server.configuration(), presence: true,
                    logger: Logger(label: "test") { _ in CapturingLogHandler(messages: logged) }
                )
                let watcher = try await node.follow([Self.presenceTopic], claims: ["*"])
                let reader = try await node.follow(["/x"])
                try await waitUntil("the watcher's own presence written") {
                    node.hub.pendingPresenceChanges == 0
                        && watcher.events.contains { $0.data.contains(watcher.subscription.id) }
                }
                let seen = watcher.events.count
                let malformed = [
                    "", "not json", "[", "{}", "[1]", "[{\"t\":1}]", "[{\"d\":\"no topics\"}]", "null",
                    String(repeating: "[", count: 10_000), "\u{0}\u{1}",
                ]
                for payload in malformed {
                    _ = try await admin.send(["PUBLISH", "herald:presence", payload])
                }
                try await waitUntil("every malformed message logged") {
                    logged.withLockedValue { $0.filter { $0.contains("malformed presence") }.count } == malformed.count
                }
                // Well-formed, but not a subscription event: not delivered to anyone.
                _ = try await admin.send(["PUBLISH", "herald:presence", #"[{"t":["/x"],"d":"spoofed"}]"#])
                // Then an update and a real presence change, which still arrive (after the above: in order).
                _ = try await node.hub.publish(Update(topics: ["/x"], data: "real"))
                try await waitUntil("the real update delivered") { reader.events.map(\.data) == ["real"] }
                let member = try await node.follow(["/rooms/lobby"])
                try await waitUntil("the member's presence announced") {
                    watcher.events.contains { $0.data.contains(member.subscription.id) }
                }
                #expect(watcher.events.count == seen + 1, "nothing but the member's start reached the watcher")
                #expect(logged.withLockedValue { $0.count } == malformed.count, "one line per malformed message")
                #expect(try await admin.send(["XLEN", "herald:updates"]).int == 1)
                await node.stop()
                await admin.close()
            }
        }

        /// Churn of N subscribers with many selectors each, presence on: O(N) Redis commands in
        /// all (the old way, one Lua publish per selector and change, took 64+ per subscriber).
        @Test func churnWithPresenceCostsCommandsPerSubscriberNotPerSelector() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let node = try await HeraldNode.start(server.configuration(), presence: true)
                let watcherNode = try await HeraldNode.start(server.configuration(), presence: true)
                let watcher = try await watcherNode.follow([Self.presenceTopic], claims: ["*"])
                let selectors = 16
                let churned = 60
                try await waitUntil("the watcher's own presence written") {
                    watcherNode.hub.pendingPresenceChanges == 0
                        && watcher.events.contains { $0.data.contains(watcher.subscription.id) }
                }
                let before = try await commandCalls(admin)
                var kept: [EventRecorder] = []
                for index in 0..<churned {
                    let recorder = try await node.follow((0..<selectors).map { "/churn/\(index)/\($0)" })
                    if index % 3 == 0 { kept.append(recorder) } else { recorder.stop() }
                }
                let keptIDs = Set(kept.map(\.subscription.id))
                try await waitUntil("registry lists exactly the kept subscriptions (and the watcher)") {
                    Set(await watcherNode.hub.subscriptionsSnapshot().subscriptions.map(\.id))
                        == keptIDs.union([watcher.subscription.id])
                }
                try await waitUntil("every selector of every kept subscription announced") {
                    keptIDs.allSatisfy { id in
                        watcher.events.filter { $0.data.contains(id) && $0.data.contains("\"active\":true") }.count == selectors
                    }
                }
                // What the churn wrote (the test's own registry reads and health-check PINGs aside).
                var used = try await commandCalls(admin).subtracting(before)
                for reading in ["scan", "hvals", "ping"] { used[reading] = nil }
                let total = used.values.reduce(0, +)
                // A batch is at most HSET + EXPIRE + HDEL + PUBLISH; at worst each change is a
                // batch of its own: 5 commands per subscriber, whatever its selectors.
                #expect(total <= 5 * churned + 10, "Redis commands for \(churned) subscribers: \(used)")
                #expect(used["eval", default: 0] + used["evalsha", default: 0] + used["xadd", default: 0] == 0)
                for recorder in kept { recorder.stop() }
                try await waitUntil("registry empty") {
                    await watcherNode.hub.subscriptionsSnapshot().subscriptions.count == 1  // the watcher
                }
                await node.stop()
                await watcherNode.stop()
                await admin.close()
            }
        }

        /// While Redis takes no writes, a flood of subscription changes stays within
        /// `maxPendingPresenceChanges` (the oldest dropped, counted); once Redis is back, one
        /// batch announces what is left and rewrites the registry, which is exact again.
        @Test func floodOfChangesStaysWithinTheBoundAndTheRegistryHeals() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let bound = 64
                var configuration = HubConfiguration()
                configuration.maxPendingPresenceChanges = bound
                let node = try await HeraldNode.start(server.configuration(), presence: true, hubConfiguration: configuration)
                let watcherNode = try await HeraldNode.start(server.configuration(), presence: true)
                let watcher = try await watcherNode.follow([Self.presenceTopic], claims: ["*"])
                try await waitUntil("the watcher's own presence written") {
                    watcherNode.hub.pendingPresenceChanges == 0
                        && watcher.events.contains { $0.data.contains(watcher.subscription.id) }
                }
                // Writes (HSET, PUBLISH...) now wait in Redis; the node's batch writer with them.
                _ = try await admin.send(["CLIENT", "PAUSE", "30000", "WRITE"])
                let first = try await node.follow(["/flood/first"])
                try await waitUntil("the first change taken (its batch waits in Redis)") {
                    node.hub.pendingPresenceChanges == 0
                }
                var flood: [EventRecorder] = []
                for index in 0..<2_000 {
                    flood.append(try await node.follow(["/flood/\(index)"]))
                    #expect(node.hub.pendingPresenceChanges <= bound)
                }
                let kept = Array(flood.suffix(10))
                for recorder in flood.dropLast(10) {
                    recorder.stop()
                }
                try await waitUntil("the ends counted") { node.hub.statistics.subscribers == 11 }
                #expect(node.hub.pendingPresenceChanges <= bound)
                #expect(node.hub.statistics.presenceChangesDropped >= UInt64(2_000 - bound))
                _ = try await admin.send(["CLIENT", "UNPAUSE"])

                let live = Set(kept.map(\.subscription.id) + [first.subscription.id, watcher.subscription.id])
                try await waitUntil("the registry rewritten: exactly the live subscriptions", timeout: .seconds(20)) {
                    Set(await watcherNode.hub.subscriptionsSnapshot().subscriptions.map(\.id)) == live
                }
                try await waitUntil("nothing pending") { node.hub.pendingPresenceChanges == 0 }
                // What was announced of the flood: at most the bound (plus the first change).
                let floodEvents = watcher.events.filter { $0.data.contains("/flood/") }.count
                #expect(floodEvents >= 1 && floodEvents <= bound + 1, "flood presence events: \(floodEvents)")
                for recorder in kept { recorder.stop() }
                first.stop()
                await node.stop()
                await watcherNode.stop()
                await admin.close()
            }
        }
    }
}

/// Calls per command the server has run so far (`INFO commandstats`), `info` itself left out.
func commandCalls(_ admin: RedisConnection) async throws -> [String: Int] {
    let info = try await admin.send(["INFO", "commandstats"]).string ?? ""
    var calls: [String: Int] = [:]
    for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
        let parts = line.dropFirst("cmdstat_".count).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] != "info",
            let field = parts[1].split(separator: ",").first(where: { $0.hasPrefix("calls=") }),
            let count = Int(field.dropFirst("calls=".count))
        else { continue }
        calls[String(parts[0])] = count
    }
    return calls
}

extension [String: Int] {
    /// Per-key differences from `earlier` (keys that moved).
    func subtracting(_ earlier: [String: Int]) -> [String: Int] {
        var difference: [String: Int] = [:]
        for (key, value) in self where value != earlier[key, default: 0] {
            difference[key] = value - earlier[key, default: 0]
        }
        return difference
    }
}
