/// Where and how a `RedisBroker` keeps Herald's updates.
public struct RedisBrokerConfiguration: Sendable {
    /// The Redis server (from a `redis://` URL).
    public var redis: RedisConfiguration
    /// Prefix of Herald's keys: the stream `<prefix>:updates` and the channel of the same name.
    public var keyPrefix = "herald"
    /// Approximate number of updates the stream retains (`XADD ... MAXLEN ~ N`).
    public var historySize = 10_000
    /// Longest wait for one Redis command before publishing fails with 503.
    public var commandTimeout: Duration = .seconds(5)
    /// Longest wait, once the hub stops, for the publishes in flight to be answered and for
    /// this node's registry entries to be removed from Redis; then the connection is closed and
    /// publishes still waiting fail with 503. Keep it under the server's shutdown grace period
    /// (`herald serve` uses half of `--shutdown-timeout`, at most `commandTimeout`).
    public var shutdownTimeout: Duration = .seconds(2)
    /// Reconnect and health-check tuning of the pub/sub connection.
    public var subscriberOptions = RedisSubscriberOptions()

    /// Creates a configuration for the Redis server at `redis`.
    public init(redis: RedisConfiguration) {
        self.redis = redis
    }

    /// Parses a `redis://[user:password@]host[:port][/db]` URL.
    public init(url: String) throws {
        self.init(redis: try RedisConfiguration(url: url))
    }

    var streamKey: String { keyPrefix + ":updates" }
    var channel: String { keyPrefix + ":updates" }
    /// Presence updates: pub/sub only, never in the stream (see `RedisBroker.announce`).
    var presenceChannel: String { keyPrefix + ":presence" }
    /// Publisher id -> stream id, for the updates the stream holds (see `RedisScripts`).
    var idIndexKey: String { keyPrefix + ":ids" }
    /// `"<stream id> <publisher id>"` in stream order: trims `idIndexKey` with the stream.
    var idOrderKey: String { keyPrefix + ":ids:order" }
}
