import NIOCore

/// Why the hub stopped serving a subscriber.
public enum StreamCloseReason: String, Sendable, Hashable, CaseIterable {
    /// The hub is shutting down; the client should reconnect (to another node, or later).
    case shutdown
    /// The client fell behind past its bound; it can reconnect and catch up from history.
    case tooSlow
    /// The subscriber went away or was cancelled by the application.
    case cancelled
    /// The authorization the stream was opened with (its token's `exp`) ran out: private
    /// updates must stop. The client gets a final comment saying so, and reconnects with a fresh
    /// token and its last event id.
    case authorizationExpired
}

/// Receives one subscriber's encoded bytes. The hub calls it only on that subscriber's shard
/// event loop, so an implementation may write straight to a channel living on that loop.
public protocol SubscriberSink: AnyObject, Sendable {
    /// First call: the replayed history, which does not count against the queue bounds.
    func start(replay: [EncodedEvent])
    /// Queues one encoded event; returns false when that would pass the subscriber's bound,
    /// after which the hub drops the subscriber with `close(.tooSlow)`.
    func enqueue(_ event: EncodedEvent) -> Bool
    /// Ends a batch of `enqueue` calls: queued bytes should now go out.
    func flush()
    /// Last call: the hub no longer serves this subscriber.
    func close(_ reason: StreamCloseReason)
    /// `enqueue` then `flush` in one call (the last event of a batch); a sink that writes to a
    /// connection can send and flush in one pass.
    func enqueueAndFlush(_ event: EncodedEvent) -> Bool
}

extension SubscriberSink {
    /// `enqueue`, then `flush` when it was accepted.
    public func enqueueAndFlush(_ event: EncodedEvent) -> Bool {
        guard enqueue(event) else { return false }
        flush()
        return true
    }
}
