import NIOCore

/// Work handed from any thread to a shard, processed in order on the shard's event loop.
enum ShardCommand {
    case deliver(StoredUpdate)
    /// `gapAfter`: the `Last-Event-ID` history did not hold; the gap event for it goes out
    /// before the replay, whatever the subscriber's topics.
    case register(HubSubscriber, replay: [StoredUpdate], gapAfter: String?)
    case unregister(UInt64, StreamCloseReason)
    case shutdown
}

/// The subscribers living on one event loop. A publish reaches each shard once (one hop per
/// loop), and the shard writes the one encoded buffer to each matching subscriber.
final class HubShard: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let heartbeatInterval: TimeAmount?
    private let heartbeat: EncodedEvent
    /// Told of every subscriber that leaves (on the loop), once.
    private let onRemove: @Sendable (HubSubscriber) -> Void
    private let onDrop: @Sendable () -> Void

    // Loop-affine state.
    private var subscribers: [UInt64: HubSubscriber] = [:]
    private var byExactTopic: [String: [UInt64: HubSubscriber]] = [:]
    /// Subscribers of `*`, templates and URL patterns, grouped by distinct selector (kind and
    /// text): a pattern is matched once per topic, however many subscribers share it. Exact
    /// selectors (an exact `a{b}` included) are in `byExactTopic`.
    private var patterns: [SelectorKey: PatternSubscribers] = [:]
    private var toFlush: [HubSubscriber] = []
    /// Subscriber writes in the batch being processed.
    private var deliveries = 0
    private var heartbeatTask: RepeatedTask?
    private var isShutDown = false
    /// Subscribers whose authorization expires; the timer is set for the earliest of them.
    private var expiring = 0
    private var expiryTimer: Scheduled<Void>?
    private var expiryTimerDeadline: NIODeadline?

    init(
        eventLoop: any EventLoop,
        heartbeatInterval: TimeAmount?,
        onRemove: @escaping @Sendable (HubSubscriber) -> Void,
        onDrop: @escaping @Sendable () -> Void
    ) {
        self.eventLoop = eventLoop
        self.heartbeatInterval = heartbeatInterval
        self.heartbeat = EncodedEvent(ByteBuffer(string: ":\n"))
        self.onRemove = onRemove
        self.onDrop = onDrop
    }

    /// Runs a batch of commands. A subscriber's bytes go out once per batch: with its write of
    /// the batch's last update (so the first subscribers are not kept waiting for the writes to
    /// all the others), or at the end for those the last update does not concern.
    /// Returns how many updates it delivered and how many subscriber writes that took.
    func process(_ commands: [ShardCommand]) -> (updates: Int, deliveries: Int) {
        self.eventLoop.assertInEventLoop()
        deliveries = 0
        var updates = 0
        let lastDelivery = commands.lastIndex { command in
            if case .deliver = command { return true }
            return false
        }
        for (index, command) in commands.enumerated() {
            switch command {
            case .deliver(let stored):
                updates += 1
                deliver(stored, flushing: index == lastDelivery)
            case .register(let subscriber, let replay, let gap): register(subscriber, replay: replay, gapAfter: gap)
            case .unregister(let id, let reason): remove(id, reason: reason)
            case .shutdown: shutdown()
            }
        }
        flushTouched()
        return (updates, deliveries)
    }

    private func deliver(_ stored: StoredUpdate, flushing: Bool) {
        let update = stored.update
        for topic in update.topics {
            guard let exact = byExactTopic[topic] else { continue }
            for subscriber in exact.values where subscriber.lastSequence != stored.sequence {
                guard subscriber.isAuthorized(for: update) else { continue }
                send(stored, to: subscriber, flushing: flushing)
            }
        }
        for pattern in patterns.values {
            // Authorization first: a private update skips templates no subscriber could use.
            if update.isPrivate, pattern.authorizedCount == 0 { continue }
            guard pattern.selector.isWildcard || update.topics.contains(where: pattern.selector.matches) else {
                continue
            }
            for subscriber in pattern.subscribers.values where subscriber.lastSequence != stored.sequence {
                guard subscriber.isAuthorized(for: update) else { continue }
                send(stored, to: subscriber, flushing: flushing)
            }
        }
    }

    private func send(_ stored: StoredUpdate, to subscriber: HubSubscriber, flushing: Bool) {
        subscriber.lastSequence = stored.sequence
        if let skip = subscriber.skipUpTo {
            if let position = stored.update.position, position <= skip { return }
            subscriber.skipUpTo = nil  // past the replayed range: nothing more to skip
        }
        if write(stored.encoded, to: subscriber, flushing: flushing) { deliveries += 1 }
    }

    /// Writes (or queues) `event` for `subscriber`; false when that dropped it as too slow.
    @discardableResult
    private func write(_ event: EncodedEvent, to subscriber: HubSubscriber, flushing: Bool = false) -> Bool {
        guard flushing ? subscriber.sink.enqueueAndFlush(event) : subscriber.sink.enqueue(event) else {
            onDrop()
            remove(subscriber.id, reason: .tooSlow)
            return false
        }
        subscriber.activeSinceHeartbeat = true
        if flushing {
            subscriber.needsFlush = false  // it may still be listed in `toFlush`: skipped there
        } else if !subscriber.needsFlush {
            subscriber.needsFlush = true
            toFlush.append(subscriber)
        }
        return true
    }

    private func flushTouched() {
        guard !toFlush.isEmpty else { return }
        for subscriber in toFlush where subscriber.needsFlush {
            subscriber.needsFlush = false
            subscriber.sink.flush()
        }
        toFlush.removeAll(keepingCapacity: true)
    }

    private func register(_ subscriber: HubSubscriber, replay: [StoredUpdate], gapAfter: String?) {
        if isShutDown {
            subscriber.sink.close(.shutdown)
            onRemove(subscriber)
            return
        }
        var buffers: [EncodedEvent] = subscriber.padded ? [Hub.paddingComment] : []
        if let gapAfter { buffers.append(Hub.gapEvent(lastEventID: gapAfter)) }
        for stored in replay where subscriber.canReceive(stored.update) {
            buffers.append(stored.encoded)
        }
        subscriber.sink.start(replay: buffers)
        if !buffers.isEmpty {
            subscriber.activeSinceHeartbeat = true
            subscriber.needsFlush = true
            toFlush.append(subscriber)
        }
        subscribers[subscriber.id] = subscriber
        for selector in subscriber.selectors {
            if selector.isPattern {
                let key = SelectorKey(selector)
                let pattern = patterns[key] ?? PatternSubscribers(selector)
                patterns[key] = pattern
                pattern.add(subscriber)
            } else {
                byExactTopic[selector.rawValue, default: [:]][subscriber.id] = subscriber
            }
        }
        startHeartbeatIfNeeded()
        if let expiry = subscriber.expiry {
            expiring += 1
            armExpiryTimer(for: expiry)
        }
    }

    private func remove(_ id: UInt64, reason: StreamCloseReason) {
        guard let subscriber = subscribers.removeValue(forKey: id) else { return }
        if subscriber.expiry != nil { expiring -= 1 }
        for selector in subscriber.selectors {
            if selector.isPattern {
                let key = SelectorKey(selector)
                if let pattern = patterns[key], pattern.remove(subscriber), pattern.subscribers.isEmpty {
                    patterns[key] = nil
                }
            } else {
                byExactTopic[selector.rawValue]?[id] = nil
                if byExactTopic[selector.rawValue]?.isEmpty == true { byExactTopic[selector.rawValue] = nil }
            }
        }
        subscriber.sink.close(reason)
        onRemove(subscriber)
    }

    private func shutdown() {
        isShutDown = true
        for id in Array(subscribers.keys) { remove(id, reason: .shutdown) }
        heartbeatTask?.cancel()
        heartbeatTask = nil
        expiryTimer?.cancel()
        expiryTimer = nil
    }

    // MARK: authorization expiry

    /// Sets the one expiry timer of this shard for `deadline` when that comes before the one set.
    /// Subscribers that leave early leave no trace: when the timer fires, the shard looks for who
    /// has expired and sets it again for the earliest remaining expiry (at most once a second,
    /// so a scan of the shard's subscribers costs at most that often).
    private func armExpiryTimer(for deadline: NIODeadline) {
        if let set = expiryTimerDeadline, set <= deadline { return }
        expiryTimer?.cancel()
        expiryTimerDeadline = deadline
        expiryTimer = eventLoop.scheduleTask(deadline: deadline) { [weak self] in
            self?.closeExpired()
        }
    }

    private func closeExpired() {
        expiryTimer = nil
        expiryTimerDeadline = nil
        guard expiring > 0, !isShutDown else { return }
        let now = NIODeadline.now()
        var next: NIODeadline?
        var expired: [UInt64] = []
        for subscriber in subscribers.values {
            guard let expiry = subscriber.expiry else { continue }
            if expiry <= now {
                expired.append(subscriber.id)
            } else if next.map({ expiry < $0 }) ?? true {
                next = expiry
            }
        }
        // A sink writes what it still owes, then the expiry notice, then ends the stream.
        for id in expired { remove(id, reason: .authorizationExpired) }
        if let next { armExpiryTimer(for: max(next, now + .seconds(1))) }
    }

    private func startHeartbeatIfNeeded() {
        guard heartbeatTask == nil, let interval = heartbeatInterval else { return }
        heartbeatTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.beat()
        }
    }

    /// Sends a comment to every subscriber that got nothing since the previous tick.
    private func beat() {
        for subscriber in Array(subscribers.values) {
            if subscriber.activeSinceHeartbeat {
                subscriber.activeSinceHeartbeat = false
            } else {
                write(heartbeat, to: subscriber)
                subscriber.activeSinceHeartbeat = false
            }
        }
        flushTouched()
    }
}

/// The subscribers of one `*`, template or URL pattern selector on a shard (loop-bound, like the shard).
final class PatternSubscribers {
    let selector: TopicSelector
    private(set) var subscribers: [UInt64: HubSubscriber] = [:]
    /// Subscribers with an authorization (who may receive private updates).
    private(set) var authorizedCount = 0

    init(_ selector: TopicSelector) {
        self.selector = selector
    }

    func add(_ subscriber: HubSubscriber) {
        guard subscribers.updateValue(subscriber, forKey: subscriber.id) == nil else { return }
        if subscriber.privateSelectors != nil { authorizedCount += 1 }
    }

    /// Removes `subscriber`; true when it was there.
    func remove(_ subscriber: HubSubscriber) -> Bool {
        guard subscribers.removeValue(forKey: subscriber.id) != nil else { return false }
        if subscriber.privateSelectors != nil { authorizedCount -= 1 }
        return true
    }
}
