import CoreMetrics
import HeraldHub
import NIOConcurrencyHelpers
import Testing

/// An embedder's own metrics backend: what it is told, by label. A counter or meter keeps its
/// running value, a gauge its last one, a histogram (recorder, timer) every observation.
final class RecordingMetrics: MetricsFactory, Sendable {
    private struct Store {
        var values: [String: Double] = [:]
        var observations: [String: [Double]] = [:]
        var made: Set<String> = []
    }

    private let store = NIOLockedValueBox(Store())

    func value(_ metric: HeraldMetric) -> Double? { store.withLockedValue { $0.values[metric.name] } }
    func observations(_ metric: HeraldMetric) -> [Double] {
        store.withLockedValue { $0.observations[metric.name] ?? [] }
    }
    var made: Set<String> { store.withLockedValue { $0.made } }

    fileprivate func add(_ label: String, _ amount: Double) {
        store.withLockedValue { $0.values[label, default: 0] += amount }
    }
    fileprivate func set(_ label: String, _ value: Double) { store.withLockedValue { $0.values[label] = value } }
    fileprivate func observe(_ label: String, _ value: Double) {
        store.withLockedValue { $0.observations[label, default: []].append(value) }
    }

    private func handler(_ label: String, aggregate: Bool = false) -> Handler {
        store.withLockedValue { _ = $0.made.insert(label) }
        return Handler(label: label, aggregate: aggregate, metrics: self)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        handler(label)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        handler(label, aggregate: aggregate)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { handler(label) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, aggregate: true) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, FloatingPointCounterHandler, RecorderHandler, MeterHandler, TimerHandler,
        Sendable
    {
        let label: String
        let aggregate: Bool
        let metrics: RecordingMetrics

        init(label: String, aggregate: Bool, metrics: RecordingMetrics) {
            self.label = label
            self.aggregate = aggregate
            self.metrics = metrics
        }

        func increment(by amount: Int64) { metrics.add(label, Double(amount)) }
        func increment(by amount: Double) { metrics.add(label, amount) }
        func decrement(by amount: Double) { metrics.add(label, -amount) }
        func reset() { metrics.set(label, 0) }
        func set(_ value: Int64) { metrics.set(label, Double(value)) }
        func set(_ value: Double) { metrics.set(label, value) }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) { aggregate ? metrics.observe(label, value) : metrics.set(label, value) }
        func recordNanoseconds(_ duration: Int64) { metrics.observe(label, Double(duration) / 1e9) }
    }
}

@Suite struct HubMetricsTests {
    @Test func anEmbeddersBackendSeesTheCountersMove() async throws {
        let metrics = RecordingMetrics()
        var configuration = HubConfiguration()
        configuration.historySize = 2
        configuration.metricsFactory = metrics
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        let expected = Set(HeraldMetric.allCases.map(\.name)).subtracting([HeraldMetric.fastPathPublishes.name])
        #expect(metrics.made == expected, "the hub makes every instrument of its own at once")
        #expect(metrics.value(.fanOutBacklogged) == 0)

        let first = try await hub.subscribe(SubscribeRequest(selectors: selectors("t")))
        let second = try await hub.subscribe(SubscribeRequest(selectors: selectors("t", "rooms/{id}")))
        let (firstEvents, _) = record(first)
        let (secondEvents, _) = record(second)
        #expect(metrics.value(.subscribers) == 2)
        #expect(metrics.value(.subscriptionsOpened) == 2)
        #expect(metrics.value(.matchingStates) == Double(hub.statistics.matchingStates))
        #expect((metrics.value(.matchingStates) ?? 0) > 0, "the template is counted")

        for index in 0..<3 {
            try await hub.publish(Update(topics: ["t"], data: "\(index)", id: "u\(index)"))
        }
        await firstEvents.waitForEvents(3)
        await secondEvents.waitForEvents(3)
        // Counted once per batch, after the batch's writes: a reader may see them a moment earlier.
        try await waitUntil { metrics.value(.deliveries) == 6 }
        #expect(metrics.value(.deliveries) == 6)
        #expect(metrics.value(.updates) == 3)
        #expect(metrics.value(.historyUpdates) == 2, "bounded by the history, like statistics.historyCount")
        let sizes = metrics.observations(.fanOutBatchSize)
        // A batch's size is its subscriber writes: updates that reach a shard together share a
        // write, so 3 updates to 2 subscribers take between 2 writes (all in one batch per
        // subscriber) and 6 (each update alone), whatever the timing.
        #expect((2...6).contains(Int(sizes.reduce(0, +))), "writes in all: \(sizes)")
        #expect(sizes.count >= 1 && sizes.count <= 3 * 2, "per batch, not per delivery: \(sizes)")
        let latencies = metrics.observations(.publishToWrite)
        #expect(latencies.count == sizes.count, "one latency per batch that wrote")
        #expect(latencies.allSatisfy { $0 >= 0 && $0 < 60 }, "\(latencies)")

        try await hub.publish(Update(topics: ["t"], data: "again", id: "u2"))  // a retry, still in history
        #expect(metrics.value(.publishDuplicates) == 1)
        #expect(metrics.value(.updates) == 3)

        let (gapped, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"), lastEventID: "gone")))
        await gapped.waitForElements(1)
        #expect(metrics.value(.gapEvents) == 1)
        #expect(metrics.value(.subscribers) == 3)

        second.cancel()
        try await waitUntil { metrics.value(.subscribers) == 2 }
        #expect(metrics.value(.subscribers) == 2)
        #expect(metrics.value(.matchingStates) == 0, "the last user of the template left")
        #expect(metrics.value(.subscribersDropped) ?? 0 == 0)
        #expect(Double(hub.statistics.delivered) == metrics.value(.deliveries))
    }

    @Test func droppedPresenceChangesAreCounted() async throws {
        let metrics = RecordingMetrics()
        var configuration = HubConfiguration()
        configuration.maxPendingPresenceChanges = 2
        configuration.metricsFactory = metrics
        // Not run: no batch ever takes the changes, so they pile up against the bound.
        let hub = Hub(configuration: configuration)
        defer { hub.shutdown() }
        #expect(metrics.value(.presenceChangesDropped) ?? 0 == 0)
        var subscriptions: [Subscription] = []
        for index in 0..<5 {
            subscriptions.append(try await hub.subscribe(SubscribeRequest(selectors: selectors("t/\(index)"))))
        }
        // 5 starts into room for 2: the 3 oldest dropped, the newest 2 wait.
        #expect(hub.pendingPresenceChanges == 2)
        #expect(hub.statistics.presenceChangesDropped == 3)
        #expect(metrics.value(.presenceChangesDropped) == 3)
        // An unannounced subscription (a long-poll) is no presence change: nothing more dropped.
        var quiet = SubscribeRequest(selectors: try selectors("t/quiet"))
        quiet.isAnnounced = false
        subscriptions.append(try await hub.subscribe(quiet))
        #expect(metrics.value(.presenceChangesDropped) == 3)
        // Ends count too: the end of an announced-but-dropped start needs room of its own.
        subscriptions[0].cancel()
        try await waitUntil { metrics.value(.presenceChangesDropped) == 4 }
        #expect(hub.statistics.presenceChangesDropped == 4)
        #expect(hub.pendingPresenceChanges == 2)
    }

    @Test func withoutABackendTheHubMakesNoInstrument() async throws {
        // Nothing bootstraps `MetricsSystem` in the test process: the no-op backend.
        let hub = Hub()
        defer { hub.shutdown() }
        #expect(hub.metricsFactory == nil)
        let (events, _) = record(try await hub.subscribe(SubscribeRequest(selectors: selectors("t"))))
        try await hub.publish(Update(topics: ["t"], data: "x"))
        await events.waitForEvents(1)
        #expect(hub.statistics.dispatched == 1, "the statistics count all the same")
    }
}
