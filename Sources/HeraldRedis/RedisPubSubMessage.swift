import NIOCore

/// A message received on a subscribed channel, or on a channel matching a subscribed pattern.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel the message was published to.
    public var channel: String
    /// The pattern that matched, for messages received through `psubscribe`; nil otherwise.
    public var pattern: String?
    /// The published bytes, unchanged.
    public var payload: ByteBuffer

    /// Creates a message.
    public init(channel: String, pattern: String? = nil, payload: ByteBuffer) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }

    /// Reads a `message`, `smessage` or `pmessage` frame (RESP3 push or RESP2 array); nil for
    /// any other frame.
    init?(frame: RESPValue) {
        guard let elements = frame.array, let kind = elements.first?.string?.lowercased() else { return nil }
        switch kind {
        case "message", "smessage":
            guard elements.count == 3, let channel = elements[1].string else { return nil }
            self.init(channel: channel, payload: elements[2].buffer ?? ByteBuffer())
        case "pmessage":
            guard elements.count == 4, let pattern = elements[1].string, let channel = elements[2].string else {
                return nil
            }
            self.init(channel: channel, pattern: pattern, payload: elements[3].buffer ?? ByteBuffer())
        default:
            return nil
        }
    }
}

/// What a ``RedisSubscriber`` reports, in the order it happened.
public enum RedisSubscriberEvent: Sendable, Hashable {
    /// A connection is up and every current subscription is confirmed on it: messages
    /// published from now on arrive. After a reconnect, anything published while disconnected
    /// was missed; a broker should catch up from its own history here.
    case connected
    /// The connection was lost; reconnection is under way.
    case disconnected
    /// A message on a subscribed channel or pattern.
    case message(RedisPubSubMessage)
}

/// Tuning of a ``RedisSubscriber``'s reconnects and health checks.
public struct RedisSubscriberOptions: Sendable, Hashable {
    /// Time between PINGs on an idle-or-not subscriber connection.
    public var healthCheckInterval: Duration
    /// Longest wait for any reply on the subscriber connection (PINGs, subscribe
    /// confirmations); past it the connection is considered dead and replaced.
    public var replyTimeout: Duration
    /// Reconnect delays: doubling from the initial delay up to the maximum.
    public var backoff: RedisBackoff
    /// Messages received but not yet taken from ``RedisSubscriber/events``; past it the
    /// subscriber stops reading its socket until the consumer has taken half of them. The read
    /// under way when the bound is reached (at most 64 KiB) still adds its messages, and so do
    /// reads while a subscription change awaits its confirmation.
    public var maxBufferedMessages: Int

    /// Creates options; the defaults ping every 5 s, allow 3 s per reply, retry from 50 ms to
    /// 2 s, and buffer at most 1,024 untaken messages.
    public init(
        healthCheckInterval: Duration = .seconds(5),
        replyTimeout: Duration = .seconds(3),
        backoff: RedisBackoff = RedisBackoff(),
        maxBufferedMessages: Int = 1024
    ) {
        self.healthCheckInterval = healthCheckInterval
        self.replyTimeout = replyTimeout
        self.backoff = backoff
        self.maxBufferedMessages = max(1, maxBufferedMessages)
    }
}

/// Exponential reconnect delays: `initial`, twice that, and so on, never above `maximum`.
public struct RedisBackoff: Sendable, Hashable {
    /// Delay before the first retry.
    public var initial: Duration
    /// Upper bound of any delay.
    public var maximum: Duration

    /// Creates a backoff from `initial` doubling up to `maximum`.
    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    public func delay(forAttempt attempt: Int) -> Duration {
        var delay = initial
        for _ in 0..<max(0, attempt) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
