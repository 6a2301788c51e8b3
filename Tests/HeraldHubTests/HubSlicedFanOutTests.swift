import Dispatch
import HeraldHub
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A shard flushes a large batch in slices, going back to its event loop between two slices;
/// what is published meanwhile goes out in the next batch, all of it in one write per
/// subscriber. Per subscriber nothing is lost, duplicated or reordered across slices.
@Suite struct HubSlicedFanOutTests {
    /// Records what the shard hands it, grouped by flush: each group is one write to a socket.
    final class RecordingSink: SubscriberSink, Sendable {
        private let state = NIOLockedValueBox(State())
        /// Runs (on the shard's loop) at each flush, with this sink's flush count so far.
        private let onFlush: @Sendable (RecordingSink) -> Void
        /// Refuses events from this one on (0-based): a subscriber past its bound.
        private let refuseFrom: Int?

        struct State {
            var queued: [String] = []
            var groups: [[String]] = []
            var accepted = 0
            var closes: [StreamCloseReason] = []
            var callsAfterClose = 0
        }

        init(refuseFrom: Int? = nil, onFlush: @escaping @Sendable (RecordingSink) -> Void = { _ in }) {
            self.refuseFrom = refuseFrom
            self.onFlush = onFlush
        }

        var groups: [[String]] { state.withLockedValue { $0.groups } }
        var closes: [StreamCloseReason] { state.withLockedValue { $0.closes } }
        var callsAfterClose: Int { state.withLockedValue { $0.callsAfterClose } }

        func start(replay: [EncodedEvent]) {}

        func enqueue(_ event: EncodedEvent) -> Bool {
            let data = String(buffer: event.bytes).split(separator: "\n")
                .first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) } ?? "?"
            return state.withLockedValue { state in
                if !state.closes.isEmpty { state.callsAfterClose += 1 }
                if let refuseFrom, state.accepted >= refuseFrom { return false }
                state.accepted += 1
                state.queued.append(data)
                return true
            }
        }

        func flush() {
            let flushed = state.withLockedValue { state -> Bool in
                guard !state.queued.isEmpty else { return false }
                state.groups.append(state.queued)
                state.queued = []
                return true
            }
            if flushed { onFlush(self) }
        }

        func close(_ reason: StreamCloseReason) {
            state.withLockedValue { $0.closes.append(reason) }
        }
    }

    /// Subscribes `count` sinks to topic `t` on a one-loop hub (one shard: all in one batch).
    private func subscribe(_ sinks: [RecordingSink], to hub: Hub, on loop: any EventLoop) async throws -> [Subscription] {
        var subscriptions: [Subscription] = []
        for sink in sinks {
            subscriptions.append(
                try await hub.subscribe(SubscribeRequest(selectors: selectors("t")), sink: sink, on: loop)
            )
        }
        return subscriptions
    }

    private func makeHub() -> (Hub, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = HubConfiguration()
        configuration.eventLoopGroup = group
        configuration.heartbeatInterval = nil
        return (Hub(configuration: configuration), group)
    }

    /// Waits (bounded) until every sink holds `events` events or was closed.
    private func waitUntil(_ sinks: [RecordingSink], have events: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if sinks.allSatisfy({ $0.groups.joined().count >= events || !$0.closes.isEmpty }) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func updatesPublishedDuringABatchGoOutTogetherInTheNextInOrder() async throws {
        let (hub, group) = makeHub()
        let published = Atomic<Bool>(false)
        let sinks = (0..<300).map { _ in
            RecordingSink { _ in
                // The batch's first flush publishes two more updates, from the shard's loop.
                if !published.exchange(true, ordering: .relaxed) {
                    _ = hub.publishImmediately(Update(topics: ["t"], data: "2"))
                    _ = hub.publishImmediately(Update(topics: ["t"], data: "3"))
                }
            }
        }
        _ = try await subscribe(sinks, to: hub, on: group.next())
        _ = try await hub.publish(Update(topics: ["t"], data: "1"))
        try await waitUntil(sinks, have: 3)

        for sink in sinks {
            #expect(sink.groups == [["1"], ["2", "3"]])  // one write each for "2" and "3", after "1"
        }
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    /// One publisher, a shard with more subscribers than a bound in writes would allow (2,048,
    /// the old default): updates published during a batch share the next batch's writes and
    /// count as deliveries, so the publisher is not held back for them.
    @Test func aSinglePublishersUpdatesShareWritesWithoutHoldingItBack() async throws {
        let (hub, group) = makeHub()
        let published = Atomic<Bool>(false)
        let heldBack = Atomic<Int>(0)
        let sinks = (0..<3000).map { _ in
            RecordingSink { _ in
                if !published.exchange(true, ordering: .relaxed) {
                    for data in 2...6 {
                        _ = hub.publishImmediately(Update(topics: ["t"], data: "\(data)"))
                        if hub.isFanOutBacklogged { heldBack.add(1, ordering: .relaxed) }
                    }
                }
            }
        }
        _ = try await subscribe(sinks, to: hub, on: group.next())
        _ = try await hub.publish(Update(topics: ["t"], data: "1"))
        try await waitUntil(sinks, have: 6)

        #expect(heldBack.load(ordering: .relaxed) == 0, "5 waiting updates x 3,000 subscribers is within the bound")
        for sink in sinks {
            #expect(sink.groups == [["1"], ["2", "3", "4", "5", "6"]])
        }
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    /// Updates that piled up while a shard could not run go out in batches of at most
    /// `Hub.maxBatchUpdates` (1,024), in order: one subscriber never gets them all in one write.
    @Test func aLongInboxIsTakenInBoundedBatchesInOrder() async throws {
        let (hub, group) = makeHub()
        let loop = group.next()
        let sink = RecordingSink()
        _ = try await subscribe([sink], to: hub, on: loop)
        _ = try await hub.publish(Update(topics: ["t"], data: "0"))
        try await waitUntil([sink], have: 1)
        let gate = DispatchSemaphore(value: 0)
        loop.execute { gate.wait() }  // the shard cannot run until the gate opens
        for index in 1...3000 { _ = hub.publishImmediately(Update(topics: ["t"], data: "\(index)")) }
        gate.signal()
        try await waitUntil([sink], have: 3001)

        #expect(sink.groups.map(\.count) == [1, 1024, 1024, 952])
        #expect(Array(sink.groups.joined()) == (0...3000).map(String.init))
        #expect(sink.closes.isEmpty)
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func theLoopRunsOtherWorkBetweenTwoSlices() async throws {
        let (hub, group) = makeHub()
        let loop = group.next()
        let flushes = Atomic<Int>(0)
        let seenByOtherWork = Atomic<Int>(-1)
        let sinks = (0..<300).map { _ in
            RecordingSink { _ in
                if flushes.add(1, ordering: .relaxed).newValue == 1 {
                    // Queued on the loop during the first slice: it runs before the batch ends.
                    loop.execute { seenByOtherWork.store(flushes.load(ordering: .relaxed), ordering: .relaxed) }
                }
            }
        }
        _ = try await subscribe(sinks, to: hub, on: loop)
        _ = try await hub.publish(Update(topics: ["t"], data: "1"))
        try await waitUntil(sinks, have: 1)

        let seen = seenByOtherWork.load(ordering: .relaxed)
        #expect(flushes.load(ordering: .relaxed) == 300)
        #expect(seen > 0 && seen < 300, "other work ran after \(seen) of 300 flushes")
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aSubscriberPastItsBoundIsDroppedWithoutHoldingUpTheOthers() async throws {
        let (hub, group) = makeHub()
        let slow = RecordingSink(refuseFrom: 1)
        let sinks = (0..<200).map { _ in RecordingSink() }
        _ = try await subscribe(Array(sinks[..<100]) + [slow] + Array(sinks[100...]), to: hub, on: group.next())
        for data in ["1", "2", "3"] { _ = try await hub.publish(Update(topics: ["t"], data: data)) }
        try await waitUntil(sinks + [slow], have: 3)

        for sink in sinks { #expect(Array(sink.groups.joined()) == ["1", "2", "3"]) }
        #expect(slow.closes == [.tooSlow])
        #expect(Array(slow.groups.joined()).count <= 1)
        #expect(slow.callsAfterClose == 0)
        hub.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aSubscriberLeavingDuringABatchIsClosedOnceAndGetsNothingAfter() async throws {
        let (hub, group) = makeHub()
        let leaving = NIOLockedValueBox<Subscription?>(nil)
        let left = Atomic<Bool>(false)
        let sinks = (0..<300).map { _ in
            RecordingSink { _ in
                // The batch's first flush cancels one subscription (whatever its place) and
                // publishes the next update.
                if !left.exchange(true, ordering: .relaxed) {
                    leaving.withLockedValue { $0 }?.cancel()
                    _ = hub.publishImmediately(Update(topics: ["t"], data: "2"))
                }
            }
        }
        let subscriptions = try await subscribe(sinks, to: hub, on: group.next())
        leaving.withLockedValue { $0 = subscriptions[150] }
        _ = try await hub.publish(Update(topics: ["t"], data: "1"))
        let others = sinks.indices.filter { $0 != 150 }.map { sinks[$0] }
        try await waitUntil(others, have: 2)
        let deadline = ContinuousClock.now + .seconds(10)
        while sinks[150].closes.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }

        for sink in others { #expect(Array(sink.groups.joined()) == ["1", "2"]) }
        #expect(sinks[150].closes == [.cancelled])
        #expect(Array(sinks[150].groups.joined()).allSatisfy { $0 == "1" })  // nothing after it left
        #expect(sinks[150].callsAfterClose == 0)
        hub.shutdown()
        try await group.shutdownGracefully()
    }
}
