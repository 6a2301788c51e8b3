import CoreMetrics
import NIOCore
import NIOPosix

/// Tunables of a `Hub`: history size, heartbeats, and the per-connection bounds that keep memory flat.
public struct HubConfiguration: Sendable {
    /// Events kept for replay on reconnect (`Last-Event-ID`); 0 disables replay.
    public var historySize: Int = 10_000
    /// A comment is sent on streams idle this long, so proxies keep them open; nil disables heartbeats.
    public var heartbeatInterval: TimeAmount? = .seconds(15)
    /// When set, every stream starts with `retry: N` so clients reconnect after N milliseconds.
    public var retryHint: Int?
    /// Bytes one subscriber may have queued before it is dropped as too slow.
    public var maxQueuedBytes: Int = 4 * 1024 * 1024
    /// Events one subscriber may have queued before it is dropped as too slow.
    public var maxQueuedEvents: Int = 20_000
    /// Publish a private update on `/.well-known/mercure/subscriptions/{topic}/{subscriber}`
    /// when a subscription starts or ends (Mercure's presence mechanism), for every selector of
    /// every subscription. Off by default: presence costs work per subscriber that comes and goes.
    /// Presence updates are never kept in the replay history (they would push real updates out).
    public var publishesSubscriptionEvents = false
    /// Selectors whose subscriptions get presence updates even when `publishesSubscriptionEvents`
    /// is off: a subscription's selector `s` is announced when one of these matches `s` as a
    /// topic (the demo chat passes its room template, so only chat rooms have presence).
    public var subscriptionEventSelectors: [TopicSelector] = []
    /// How long subscription starts and ends are gathered before they are recorded in the
    /// broker's registry and announced (presence), as one batch: with Redis a batch costs a few
    /// commands whatever its size, so churn costs O(subscriptions) commands, not one per
    /// selector; a subscription that starts and ends within one batch is never recorded, and
    /// only its end is announced (for clients that listed it meanwhile). Presence updates
    /// arrive this much later at most (plus the batch's own write).
    public var presenceBatchInterval: Duration = .milliseconds(25)
    /// Most subscription starts and ends waiting for their batch. Past it (a broker that is slow
    /// or unreachable while subscribers keep coming and going) the waiting changes are dropped:
    /// their presence updates are never sent, and the next batch rewrites this node's whole
    /// registry entry from the live subscriptions instead, so the subscriptions API stays exact
    /// and memory stays bounded. Changes to one subscription never take two places (the newest wins).
    public var maxPendingPresenceChanges = 4096
    /// Most topic selectors one subscription may ask for; more is refused (HTTP 400).
    public var maxSelectors = 64
    /// Longest topic selector a subscription may use and longest topic an update may have, in
    /// UTF-8 bytes; longer is refused (HTTP 400). Bounds the cost of matching templates.
    public var maxTopicLength = TopicSelector.maximumLength
    /// Matching states (`URITemplate.matchingStates`) one subscription's template selectors may
    /// have in all. Each update is matched against every distinct template at a cost of
    /// O(topic length × states), so this bounds what one subscriber adds to every publish
    /// (64 templates like `https://example.com/{a}/{b}` take about 640).
    public var maxTemplateStates = 1024
    /// Matching states (`TopicSelector.matchingStates`) of all distinct template selectors in
    /// use on this hub (node), shared ones counted once; nil: no bound. Every update's topics are
    /// matched once against each of them, so this bounds the matching work of any publish to
    /// O(topic bytes × this) per event loop, however many subscribers come: a subscription that
    /// would add new templates beyond it is refused with `HubError.overloaded` (HTTP 503 +
    /// Retry-After), while subscriptions to selectors already in use and to exact topics are
    /// always taken. Claim selectors of tokens count too but are never refused. 16,384 is
    /// about 1,600 templates like `https://example.com/{a}/{b}`, or 16 subscribers at the
    /// per-subscription bound; a match costs about 3 ns per state and topic byte here, so at
    /// most ~0.1 s of CPU for a 2 KiB topic (real topics are much shorter).
    public var maxMatchingStates: Int? = 16_384
    /// Event loops that run fan-out; subscribers are spread over them, one shard per loop.
    public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Fan-out work (estimated deliveries: updates waiting times the subscribers each reaches)
    /// one shard may have queued before publishers are held back: fast-path publish connections
    /// stop being read and `Hub.publish` waits until the shards have caught up to half of it.
    /// This bounds the hub's memory and the delay of events under overload; nil lets publishers
    /// run ahead without limit. One waiting update is always taken, however many it reaches.
    ///
    /// Updates that wait together go out in one batch, one write per subscriber carrying all of
    /// them, so the bound also says how many events a write may gather: 65,536 lets a shard of
    /// 2,500 subscribers (5,000 on two loops) batch 26 updates, about 10-20 ms of fan-out work
    /// here. Far lower bounds make a busy single publisher cost one write per event per
    /// subscriber once a shard has more subscribers than the bound.
    public var maxFanOutBacklog: Int? = 65_536
    /// Where the hub's metrics go (`HeraldMetric` lists them); nil: the process's backend,
    /// `MetricsSystem.factory`, as it is when the hub is made (bootstrap it first). With the
    /// no-op backend (nothing bootstrapped) the hub makes no instrument and counts nothing
    /// beyond `Hub.statistics`. Set it to give one hub its own backend (a test's recorder, say).
    public var metricsFactory: (any MetricsFactory)?

    /// Creates the default configuration.
    public init() {}

    /// The `retry: N` field that opens every stream, or nil without a retry hint.
    package var retryField: ByteBuffer? {
        retryHint.map { ByteBuffer(string: "retry: \($0)\n\n") }
    }
}
