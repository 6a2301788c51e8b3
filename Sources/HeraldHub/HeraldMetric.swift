import CoreMetrics
import NIOCore

/// The metrics Herald reports, by the name its swift-metrics instruments carry (the label a
/// backend sees, and the Prometheus name of `herald serve`'s `/metrics`): the one list of
/// names, help texts and histogram buckets, read by the hub, the HTTP endpoint, the
/// statistics-based ``HubStatistics`` text of `HeraldHTTP` and `herald serve`'s Prometheus
/// backend.
///
/// Every value is this node's. A backend gets them when the process bootstraps it
/// (`MetricsSystem.bootstrap(_:)`) before the hub is made, or through
/// ``HubConfiguration/metricsFactory``; with neither, the hub uses the no-op backend and makes
/// no instrument at all (nothing is counted, no clock is read).
public enum HeraldMetric: String, CaseIterable, Sendable {
    /// Gauge (a swift-metrics `Meter`): subscribers connected to this node.
    case subscribers = "herald_subscribers"
    /// Counter: subscriptions opened since start.
    case subscriptionsOpened = "herald_subscriptions_opened_total"
    /// Counter: updates fanned out on this node since start.
    case updates = "herald_updates_total"
    /// Counter: live updates written to subscribers since start (added once per fan-out batch).
    case deliveries = "herald_deliveries_total"
    /// Counter: subscribers dropped for falling behind their bound.
    case subscribersDropped = "herald_subscribers_dropped_total"
    /// Gauge (`Meter`): updates retained for replay.
    case historyUpdates = "herald_history_updates"
    /// Gauge (a `Gauge`, set when it changes): 1 while fan-out is behind and publishers are held back.
    case fanOutBacklogged = "herald_fanout_backlogged"
    /// Counter: failed broker catch-up reads (after a lost Redis connection) retried since start.
    case brokerCatchUpRetries = "herald_broker_catchup_retries_total"
    /// Counter: publishes answered on the event loop (`HeraldHTTP`'s fast path).
    case fastPathPublishes = "herald_fast_path_publishes_total"
    /// Counter: subscriptions that started with a `herald-gap` event.
    case gapEvents = "herald_gap_events_total"
    /// Counter: publishes recognised as retries by their id.
    case publishDuplicates = "herald_publish_duplicates_total"
    /// Gauge (`Meter`): matching states of the distinct template selectors in use.
    case matchingStates = "herald_matching_states"
    /// Histogram (a swift-metrics `Timer`): per fan-out batch, the time from the oldest update
    /// of the batch being accepted by this node's hub to the batch's writes being handed to
    /// the subscribers' channels.
    case publishToWrite = "herald_publish_to_write_seconds"
    /// Histogram (an aggregating `Recorder`): subscriber writes per fan-out batch.
    case fanOutBatchSize = "herald_fanout_batch_size"
    /// Counter: subscription starts and ends dropped unannounced because more than
    /// `HubConfiguration.maxPendingPresenceChanges` waited for their batch.
    case presenceChangesDropped = "herald_presence_changes_dropped_total"

    /// What kind of series a metric is.
    public enum Kind: Sendable {
        /// Only goes up (since the process started).
        case counter
        /// Goes up and down: a snapshot of the hub's state, kept current where it changes.
        case gauge
        /// A distribution of observations (one per fan-out batch).
        case histogram
    }

    /// The metric's name (its swift-metrics label).
    public var name: String { rawValue }

    /// Whether it is a counter, a gauge or a histogram.
    public var kind: Kind {
        switch self {
        case .subscribers, .historyUpdates, .fanOutBacklogged, .matchingStates: .gauge
        case .publishToWrite, .fanOutBatchSize: .histogram
        default: .counter
        }
    }

    /// One line saying what it measures (Prometheus `# HELP`).
    public var help: String {
        switch self {
        case .subscribers: "Subscribers connected to this node."
        case .subscriptionsOpened: "Subscriptions opened since start."
        case .updates: "Updates fanned out on this node since start."
        case .deliveries: "Live updates written to subscribers since start."
        case .subscribersDropped: "Subscribers dropped for falling behind their bound."
        case .historyUpdates: "Updates retained for replay."
        case .fanOutBacklogged: "1 while fan-out is behind and publishers are held back."
        case .brokerCatchUpRetries:
            "Failed broker catch-up reads (after a lost Redis connection) retried since start."
        case .fastPathPublishes: "Publishes answered on the event loop."
        case .gapEvents:
            "Subscriptions that started with a herald-gap event (their Last-Event-ID was not in history)."
        case .publishDuplicates:
            "Publishes recognised as retries by their id, answered without storing or delivering again."
        case .matchingStates:
            "Matching states of the distinct template selectors in use (bounded by --max-matching-states)."
        case .publishToWrite:
            "Per fan-out batch: seconds from the oldest update of the batch accepted by the hub to the batch written to the subscribers' channels."
        case .fanOutBatchSize: "Per fan-out batch: subscriber writes in the batch."
        case .presenceChangesDropped:
            "Subscription starts and ends dropped unannounced because too many waited for their batch (the registry is then rewritten whole)."
        }
    }

    /// The upper bounds of a histogram's buckets, in its unit (seconds for
    /// ``publishToWrite``); empty for counters and gauges. In-process fan-out takes tens of
    /// microseconds to a few milliseconds, so the latency buckets start at 50 µs; batch sizes
    /// go from one subscriber to the hundred thousand a large node holds.
    public var buckets: [Double] {
        switch self {
        case .publishToWrite:
            [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
        case .fanOutBatchSize:
            [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000]
        default: []
        }
    }
}

/// The hub's swift-metrics instruments, made once from one factory.
///
/// Everything here is counted per update, per subscription or per fan-out batch, never per
/// delivery: the per-subscriber loop of a shard does not touch it. The snapshot values
/// (subscribers, history, matching states) are `Meter`s moved by deltas where they change, so
/// they need no lock ordering and cost nothing while they stay put (the history stops moving
/// once full); the backlog flag is a `Gauge` set on its (rare) transitions, under the hub's lock.
final class HubMetrics: Sendable {
    /// The backend the instruments came from (`HeraldHTTP` makes its own counter with it).
    let factory: any MetricsFactory
    let subscribers: Meter
    let subscriptionsOpened: Counter
    let updates: Counter
    let deliveries: Counter
    let dropped: Counter
    let history: Meter
    let backlogged: Gauge
    let catchUpRetries: Counter
    let gapEvents: Counter
    let publishDuplicates: Counter
    let matchingStates: Meter
    let presenceChangesDropped: Counter
    let publishToWrite: CoreMetrics.Timer
    let batchSize: Recorder

    /// The instruments of `factory`; nil for the no-op backend, so that a hub nobody observes
    /// makes none and reads no clock.
    init?(factory: any MetricsFactory) {
        if factory is NOOPMetricsHandler { return nil }
        self.factory = factory
        subscribers = Meter(label: HeraldMetric.subscribers.name, factory: factory)
        subscriptionsOpened = Counter(label: HeraldMetric.subscriptionsOpened.name, factory: factory)
        updates = Counter(label: HeraldMetric.updates.name, factory: factory)
        deliveries = Counter(label: HeraldMetric.deliveries.name, factory: factory)
        dropped = Counter(label: HeraldMetric.subscribersDropped.name, factory: factory)
        history = Meter(label: HeraldMetric.historyUpdates.name, factory: factory)
        backlogged = Gauge(label: HeraldMetric.fanOutBacklogged.name, factory: factory)
        catchUpRetries = Counter(label: HeraldMetric.brokerCatchUpRetries.name, factory: factory)
        gapEvents = Counter(label: HeraldMetric.gapEvents.name, factory: factory)
        publishDuplicates = Counter(label: HeraldMetric.publishDuplicates.name, factory: factory)
        matchingStates = Meter(label: HeraldMetric.matchingStates.name, factory: factory)
        presenceChangesDropped = Counter(label: HeraldMetric.presenceChangesDropped.name, factory: factory)
        publishToWrite = CoreMetrics.Timer(
            label: HeraldMetric.publishToWrite.name,
            dimensions: [],
            preferredDisplayUnit: .seconds,
            factory: factory
        )
        batchSize = Recorder(label: HeraldMetric.fanOutBatchSize.name, aggregate: true, factory: factory)
        backlogged.record(0)
    }

    /// When the oldest update among `commands` was accepted by the hub (nil: none to deliver).
    func oldestAccepted(_ commands: [ShardCommand]) -> NIODeadline? {
        for command in commands {
            if case .deliver(let stored) = command { return stored.accepted }
        }
        return nil
    }

    /// The one call per fan-out batch, once the shard has flushed it: `deliveries` events in
    /// `writes` subscriber writes. Adds them to the deliveries counter and, when the batch wrote
    /// anything, records its size (writes) and how long its oldest update waited (from
    /// acceptance by the hub until the batch was flushed to the channels).
    func fanOutBatch(writes: Int, deliveries: Int, oldestAccepted: NIODeadline?) {
        guard deliveries > 0 else { return }
        self.deliveries.increment(by: Int64(deliveries))
        batchSize.record(writes)
        if let oldestAccepted {
            let waited = NIODeadline.now().uptimeNanoseconds &- oldestAccepted.uptimeNanoseconds
            publishToWrite.recordNanoseconds(Int64(truncatingIfNeeded: waited))
        }
    }
}
