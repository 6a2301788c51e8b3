import HeraldTestSupport
import HeraldHub
import HeraldRedis
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The cost of one update must not grow with the number of updates a node has taken in: a
/// closure kept in a lock box once made each update walk a chain as long as all the updates
/// before it (issue 12). 50,000 updates go through a node in 10 slices; a slice's cost is its
/// cheapest chunk of 500 (noise from other tests only adds time, so the minimum is the fairest
/// reading on a shared machine), and the last slices must cost under 2x the first ones. No
/// absolute speed is asserted. `Benchmarks/soak.py` is the long version of this check.
enum CostGrowth {
    static let slices = 10
    static let chunksPerSlice = 10
    static let chunk = 500

    /// Runs `publish(first, count)` for every chunk and waits until `sink` has all of them;
    /// returns each slice's cheapest chunk, in nanoseconds.
    static func sliceCosts(
        sink: CountingSink,
        publish: (_ first: Int, _ count: Int) async throws -> Void
    ) async throws -> [UInt64] {
        var costs: [UInt64] = []
        var published = 0
        for _ in 0..<slices {
            var cheapest = UInt64.max
            for _ in 0..<chunksPerSlice {
                let start = ContinuousClock.now
                try await publish(published, chunk)
                published += chunk
                await sink.waitFor(published)
                let elapsed = ContinuousClock.now - start
                let nanoseconds = UInt64(elapsed.components.seconds) * 1_000_000_000
                    + UInt64(elapsed.components.attoseconds / 1_000_000_000)
                cheapest = min(cheapest, nanoseconds)
            }
            costs.append(cheapest)
        }
        return costs
    }

    /// Checks the growth bound and says what was measured.
    static func expectFlat(_ costs: [UInt64], _ label: String) {
        let perUpdate = costs.map { Double($0) / 1000 / Double(chunk) }
        let line = perUpdate.map { String(Int($0.rounded())) }.joined(separator: " ")
        print("\(label): µs per update (cheapest chunk of each 10% slice): \(line)")
        // The end (the cheaper of the last two slices) against the start (the dearer of the first
        // two): a busy machine can slow every chunk of one slice, but not make a cost that grows
        // with each update (10x over this run) look flat.
        let end = min(costs[costs.count - 1], costs[costs.count - 2])
        let start = max(costs[0], costs[1])
        #expect(
            end < 2 * start,
            "\(label): the last slices cost \(Double(end) / 1000 / Double(chunk)) µs per update, the first \(Double(start) / 1000 / Double(chunk)): super-linear growth"
        )
    }
}

/// A subscriber that only counts what the hub hands it, and wakes whoever waits for a count.
final class CountingSink: SubscriberSink {
    private struct State {
        var count = 0
        var waiters: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state = NIOLockedValueBox(State())

    func waitFor(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLockedValue { state -> Bool in
                if state.count >= count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func start(replay: [EncodedEvent]) {}

    func enqueue(_ event: EncodedEvent) -> Bool {
        let ready = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.count += 1
            let count = state.count
            let ready = state.waiters.filter { $0.0 <= count }.map(\.1)
            if !ready.isEmpty { state.waiters.removeAll { $0.0 <= count } }
            return ready
        }
        for continuation in ready { continuation.resume() }
        return true
    }

    func flush() {}

    func close(_ reason: StreamCloseReason) {}
}

@Suite("Flat cost per update: in-memory node", .timeLimit(.minutes(2)))
struct InMemoryCostGrowthTests {
    @Test func fiftyThousandUpdatesCostNoMorePerUpdateAtTheEnd() async throws {
        var configuration = HubConfiguration()
        configuration.historySize = 5_000
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        let sink = CountingSink()
        let subscription = try await hub.subscribe(
            SubscribeRequest(selectors: [try TopicSelector("soak")]),
            sink: sink,
            on: configuration.eventLoopGroup.next()
        )
        let costs = try await CostGrowth.sliceCosts(sink: sink) { first, count in
            for index in first..<(first + count) {
                try await hub.publish(Update(topics: ["soak"], data: "\(index)"))
            }
        }
        CostGrowth.expectFlat(costs, "in-memory node")
        #expect(hub.statistics.dispatched == UInt64(CostGrowth.slices * CostGrowth.chunksPerSlice * CostGrowth.chunk))
        subscription.cancel()
    }
}

extension RedisIntegrationTests {
    @Suite("Flat cost per update: Redis node")
    struct RedisCostGrowth {
        /// Every update goes through Redis (Lua XADD + PUBLISH) and back in on the node's pub/sub
        /// connection, the intake path that used to grow.
        @Test func fiftyThousandUpdatesCostNoMorePerUpdateAtTheEnd() async throws {
            try await withRedisServer { server in
                let node = try await HeraldNode.start(server.configuration(), historySize: 5_000)
                let sink = CountingSink()
                let subscription = try await node.hub.subscribe(
                    SubscribeRequest(selectors: [try TopicSelector("soak")]),
                    sink: sink,
                    on: node.hub.configuration.eventLoopGroup.next()
                )
                let costs = try await CostGrowth.sliceCosts(sink: sink) { first, count in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in first..<(first + count) {
                            group.addTask { _ = try await node.hub.publish(Update(topics: ["soak"], data: "\(index)")) }
                        }
                        try await group.waitForAll()
                    }
                }
                CostGrowth.expectFlat(costs, "Redis node")
                subscription.cancel()
                await node.stop()
            }
        }
    }
}
