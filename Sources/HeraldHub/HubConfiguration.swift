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
    /// when a subscription starts or ends (Mercure's presence mechanism).
    public var publishesSubscriptionEvents = false
    /// Event loops that run fan-out; subscribers are spread over them, one shard per loop.
    public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Fan-out work (estimated deliveries) one shard may have queued before publishers are held
    /// back: fast-path publish connections stop being read and `Hub.publish` waits until the
    /// shards have caught up to half of it. This bounds the hub's memory and the delay of
    /// events under overload; nil lets publishers run ahead without limit.
    public var maxFanOutBacklog: Int? = 2048

    /// Creates the default configuration.
    public init() {}

    /// The `retry: N` field that opens every stream, or nil without a retry hint.
    public var retryField: ByteBuffer? {
        retryHint.map { ByteBuffer(string: "retry: \($0)\n\n") }
    }
}
