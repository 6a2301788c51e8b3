/// The four subscription commands, and which set of names each changes.
enum SubscriptionOperation: Sendable {
    case subscribe, unsubscribe, psubscribe, punsubscribe

    var command: String {
        switch self {
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .psubscribe: "PSUBSCRIBE"
        case .punsubscribe: "PUNSUBSCRIBE"
        }
    }

    var adds: Bool { self == .subscribe || self == .psubscribe }
    var isPattern: Bool { self == .psubscribe || self == .punsubscribe }
}

/// Everything a ``RedisSubscriber`` guards with its lock.
struct SubscriberState: Sendable {
    /// Wanted channels and patterns: restored on each new connection.
    var channels: Set<String> = []
    var patterns: Set<String> = []
    /// The live connection, once it has been handed its subscriptions.
    var connection: RedisConnection?
    /// Counts connection attempts; frames from an older attempt are dropped.
    var generation = 0
    var isConnected = false
    /// While subscriptions are being restored, messages wait here so that `.connected`
    /// precedes every message of the new connection.
    var holdingMessages = false
    var heldMessages: [RedisPubSubMessage] = []
    /// Messages handed to `events` and not yet taken by the consumer.
    var buffered = 0
    /// Reading of the connection is paused because `buffered` reached the bound.
    var readingPaused = false
    /// The sink asked to stop reading (`RedisSubscriber.pauseReading()`), whatever `buffered` is.
    var consumerPaused = false
    /// Subscription changes whose confirmation the connection must still read: no pausing then.
    var awaitingReplies = 0
    var isRunning = false
    var stopRequested = false
    var backoffSleep: Task<Void, Never>?

    /// Marks reading paused when `limit` messages wait for the consumer, none is held back (held
    /// ones wait for subscribe confirmations) and no reply is due; returns the connection to pause.
    mutating func pauseIfFull(limit: Int) -> RedisConnection? {
        guard buffered >= limit || consumerPaused, !readingPaused, !holdingMessages, awaitingReplies == 0, let connection else {
            return nil
        }
        readingPaused = true
        return connection
    }

    /// Ends a pause; returns the connection to read again, nil when reading was not paused.
    mutating func resumeIfPaused() -> RedisConnection? {
        guard readingPaused else { return nil }
        readingPaused = false
        return connection
    }

    /// Records the change and returns the names to send: new ones for subscribing, held ones
    /// for unsubscribing (all of them when `names` is empty).
    mutating func apply(_ operation: SubscriptionOperation, _ names: [String]) -> [String] {
        var set = operation.isPattern ? patterns : channels
        var affected: [String] = []
        if operation.adds {
            for name in names where set.insert(name).inserted { affected.append(name) }
        } else if names.isEmpty {
            affected = set.sorted()
            set.removeAll()
        } else {
            for name in names where set.remove(name) != nil { affected.append(name) }
        }
        if operation.isPattern { patterns = set } else { channels = set }
        return affected
    }

    /// Drops names the server refused to subscribe to.
    mutating func forget(_ operation: SubscriptionOperation, _ names: [String]) {
        if operation.isPattern {
            patterns.subtract(names)
        } else {
            channels.subtract(names)
        }
    }
}
