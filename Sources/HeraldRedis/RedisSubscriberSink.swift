/// Takes a ``RedisSubscriber``'s messages and connection changes as they happen, on the
/// subscriber's event loop (``RedisSubscriber/eventLoop``), in order: the alternative to
/// ``RedisSubscriber/events`` for a consumer that can take them without suspending (no task,
/// no async hop per message).
///
/// Every call comes on the subscriber's event loop, one at a time, so the sink may keep its
/// state loop-bound. It is never called with the subscriber's lock held: it may call
/// ``RedisSubscriber/pauseReading()`` and ``RedisSubscriber/resumeReading()`` from any call.
/// Pausing takes effect before the next read of the socket; what was already read still
/// arrives (at most one read: the subscriber reads one buffer per wake-up).
public protocol RedisSubscriberSink: AnyObject, Sendable {
    /// A connection is up with every subscription confirmed on it: its messages follow (as
    /// ``RedisSubscriberEvent/connected`` on ``RedisSubscriber/events``).
    func subscriberConnected(_ subscriber: RedisSubscriber)
    /// The messages decoded from one read of the connection, in the order Redis sent them.
    func subscriber(_ subscriber: RedisSubscriber, received messages: [RedisPubSubMessage])
    /// The connection that was reported connected is gone; every message it carried was handed
    /// over before this call.
    func subscriberDisconnected(_ subscriber: RedisSubscriber)
}
