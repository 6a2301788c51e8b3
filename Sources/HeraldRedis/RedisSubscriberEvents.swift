/// A ``RedisSubscriber``'s messages and connection changes, in order, for one consumer.
///
/// Taking a message from it is what lets the subscriber read on: past
/// ``RedisSubscriberOptions/maxBufferedMessages`` untaken messages it stops reading its socket,
/// so a slow consumer leaves the backlog in Redis (bounded by Redis's pub/sub output buffer
/// limit, past which Redis drops the connection) instead of in this process's memory.
public struct RedisSubscriberEvents: AsyncSequence, Sendable {
    public typealias Element = RedisSubscriberEvent

    let stream: AsyncStream<RedisSubscriberEvent>
    let took: @Sendable () -> Void

    /// The one iterator its single consumer should use.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), took: took)
    }

    /// Iterates the events; each message taken counts as consumed.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<RedisSubscriberEvent>.AsyncIterator
        let took: @Sendable () -> Void

        /// The next event; nil once the subscriber has stopped and everything was taken.
        public mutating func next() async -> RedisSubscriberEvent? {
            let event = await base.next()
            if case .message = event { took() }
            return event
        }
    }
}
