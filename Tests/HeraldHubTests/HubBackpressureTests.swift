import Dispatch
import HeraldHub
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// Publishers are held back while a shard has more fan-out work queued than the bound, and go
/// on once it has caught up: the hub's queues, and the delay of events, stay bounded.
@Suite struct HubBackpressureTests {
    /// A hub on one event loop, with one subscriber whose shard has delivered one update.
    private func hubWithStuckShard(limit: Int?, broker: any Broker = InMemoryBroker()) async throws
        -> (Hub, MultiThreadedEventLoopGroup, StreamRecorder, DispatchSemaphore)
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = HubConfiguration()
        configuration.eventLoopGroup = group
        configuration.maxFanOutBacklog = limit
        let hub = Hub(configuration: configuration, broker: broker)
        let (recorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        _ = try await hub.publish(Update(topics: ["t"], data: "warm-up"))
        await recorder.waitForEvents(1)
        let gate = DispatchSemaphore(value: 0)
        group.next().execute { gate.wait() }  // the shard cannot run until the gate opens
        return (hub, group, recorder, gate)
    }

    @Test func publishersWaitWhileTheShardIsBehindAndGoOnWhenItCatchesUp() async throws {
        let (hub, group, recorder, gate) = try await hubWithStuckShard(limit: 4)
        for index in 0..<4 { #expect(hub.publishImmediately(Update(topics: ["t"], data: "\(index)")) != nil) }
        #expect(!hub.isFanOutBacklogged)  // 4 waiting deliveries: at the bound, not past it
        #expect(hub.publishImmediately(Update(topics: ["t"], data: "4")) != nil)
        #expect(hub.isFanOutBacklogged)

        let resumed = NIOLockedValueBox(false)
        #expect(hub.whenFanOutCatchesUp { resumed.withLockedValue { $0 = true } })
        let publishing = Task { try await hub.publish(Update(topics: ["t"], data: "5")) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(recorder.events.count == 1)  // nothing was delivered meanwhile
        #expect(!resumed.withLockedValue { $0 })

        gate.signal()
        _ = try await publishing.value
        await recorder.waitForEvents(7)
        #expect(recorder.events.map(\.data) == ["warm-up", "0", "1", "2", "3", "4", "5"])
        #expect(resumed.withLockedValue { $0 })
        #expect(!hub.isFanOutBacklogged)
        #expect(!hub.whenFanOutCatchesUp {})  // no backlog: nothing to wait for
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    /// `hubWithStuckShard(limit: 1)`, then three updates: the hub is behind.
    private func hubBehind() async throws -> (Hub, MultiThreadedEventLoopGroup, DispatchSemaphore) {
        let (hub, group, _, gate) = try await hubWithStuckShard(limit: 1)
        for index in 0..<3 { _ = hub.publishImmediately(Update(topics: ["t"], data: "\(index)")) }
        #expect(hub.isFanOutBacklogged)
        return (hub, group, gate)
    }

    @Test func shutdownReleasesHeldPublishers() async throws {
        let (hub, group, gate) = try await hubBehind()
        let publishing = Task { try await hub.publish(Update(topics: ["t"], data: "held")) }
        try await Task.sleep(for: .milliseconds(100))
        hub.shutdown()
        #expect(try await publishing.value.hasPrefix("urn:uuid:"))
        #expect(!hub.isFanOutBacklogged)
        gate.signal()
        try await group.shutdownGracefully()
    }

    @Test func withoutABoundPublishersNeverWait() async throws {
        let (hub, group, recorder, gate) = try await hubWithStuckShard(limit: nil)
        for index in 0..<100 { _ = hub.publishImmediately(Update(topics: ["t"], data: "\(index)")) }
        #expect(!hub.isFanOutBacklogged)
        gate.signal()
        await recorder.waitForEvents(101)
        #expect(recorder.events.count == 101)
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func waitingForFanOutEndsOnCancellation() async throws {
        let (hub, group, gate) = try await hubBehind()
        let waiting = Task { await hub.waitForFanOut() }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await waiting.value
        #expect(hub.isFanOutBacklogged, "still behind: cancellation ended the wait")
        gate.signal()
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    /// A broker (Redis) may still deliver after shutdown, while a shard never runs again: that
    /// must not make anyone wait.
    @Test func afterShutdownNothingWaitsEvenIfTheBrokerDeliversMore() async throws {
        let broker = HandDeliveringBroker()
        let (hub, group, _, gate) = try await hubWithStuckShard(limit: 1, broker: broker)
        hub.shutdown()
        for index in 0..<3 { broker.deliver(Update(topics: ["t"], data: "\(index)", id: "u\(index)")) }
        let done = NIOLockedValueBox(false)
        let waiting = Task {
            await hub.waitForFanOut()
            done.withLockedValue { $0 = true }
        }
        for _ in 0..<200 where !done.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(done.withLockedValue { $0 })
        #expect(!hub.whenFanOutCatchesUp {})
        waiting.cancel()
        await waiting.value
        gate.signal()
        try await group.shutdownGracefully()
    }
}

/// A broker whose deliveries the test makes by hand.
private final class HandDeliveringBroker: Broker {
    private let intake = BrokerIntakeSlot()

    func attach(_ intake: BrokerIntake) { self.intake.attach(intake) }
    func deliver(_ update: Update) { intake.deliver(update) }
    func publish(_ update: Update) async throws -> String {
        deliver(update)
        return update.id ?? "none"
    }
    func updates(after id: String, limit: Int) async throws -> BrokerHistory? { nil }
    func run() async throws {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
