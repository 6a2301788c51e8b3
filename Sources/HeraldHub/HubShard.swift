import NIOCore

/// Work handed from any thread to a shard, processed in order on the shard's event loop.
enum ShardCommand {
    case deliver(StoredUpdate)
    /// `gapAfter`: the `Last-Event-ID` history did not hold; the gap event for it goes out
    /// before the replay, whatever the subscriber's topics. `padded`: the stream starts with
    /// `Hub.paddingComment`. `expiry`: when the subscriber's authorization runs out (its
    /// token's `exp`); the shard then closes the stream with `.authorizationExpired`.
    case register(HubSubscriber, replay: [StoredUpdate], gapAfter: String?, padded: Bool, expiry: NIODeadline?)
    case unregister(UInt64, StreamCloseReason)
    case shutdown
}

/// What one batch of shard commands did, told to the hub once its last subscriber was flushed.
struct ShardBatch {
    /// Updates delivered.
    var updates = 0
    /// Events handed to subscribers (an update reaching 500 subscribers counts 500).
    var deliveries = 0
    /// Subscribers flushed: each is one socket write, carrying every event of the batch for it.
    var writes = 0
}

/// The subscribers living on one event loop. A publish reaches each shard once (one hop per
/// loop), and the shard writes the one encoded buffer to each matching subscriber.
///
/// A batch is written in two steps: every event of the batch is queued on every matching
/// subscriber (no system call), then the subscribers are flushed in slices (`sliceSize`), with
/// the loop going back to its I/O between two slices. The loop thus reads the next publishes
/// while a large batch goes out, and they arrive in the next batch together: each subscriber
/// then gets all of them in one write, instead of one write (and one wake-up of its reader)
/// per event. The next batch starts once the last slice is flushed, so a subscriber's events
/// stay in order and no subscriber is flushed twice in one batch.
///
/// Not `Sendable`: the hub holds each shard in a `NIOLoopBoundBox` of its loop, so every touch
/// of its state is checked to happen there, and its own timers run isolated to that loop.
final class HubShard {
    let eventLoop: any EventLoop
    private let heartbeatInterval: TimeAmount?
    private let heartbeat: EncodedEvent
    /// Told of every subscriber that leaves (on the loop), once.
    private let onRemove: @Sendable (HubSubscriber) -> Void
    private let onDrop: @Sendable () -> Void
    /// Told (on the loop) when a batch's last slice is flushed; the hub then hands over the next.
    private let onBatchFlushed: @Sendable (ShardBatch) -> Void

    // Loop-affine state.
    private var subscribers: [UInt64: HubSubscriber] = [:]
    private var byExactTopic: [String: [UInt64: HubSubscriber]] = [:]
    /// Subscribers of `*`, templates and URL patterns, grouped by distinct selector (kind and
    /// text): a pattern is matched once per topic, however many subscribers share it. Exact
    /// selectors (an exact `a{b}` included) are in `byExactTopic`.
    private var patterns: [SelectorKey: PatternSubscribers] = [:]
    /// Subscribers with queued bytes, flushed in slices from `flushed` on.
    private var toFlush: [HubSubscriber] = []
    private var flushed = 0
    /// The batch being processed or flushed.
    private var batch = ShardBatch()
    private var heartbeatTask: Scheduled<Void>?
    private var isShutDown = false
    /// When each subscriber whose authorization expires must go; the timer is set for the
    /// earliest of them.
    private var expiries: [UInt64: NIODeadline] = [:]
    private var expiryTimer: Scheduled<Void>?
    private var expiryTimerDeadline: NIODeadline?

    init(
        eventLoop: any EventLoop,
        heartbeatInterval: TimeAmount?,
        onRemove: @escaping @Sendable (HubSubscriber) -> Void,
        onDrop: @escaping @Sendable () -> Void,
        onBatchFlushed: @escaping @Sendable (ShardBatch) -> Void
    ) {
        self.eventLoop = eventLoop
        self.heartbeatInterval = heartbeatInterval
        self.heartbeat = EncodedEvent(ByteBuffer(string: ":\n"))
        self.onRemove = onRemove
        self.onDrop = onDrop
        self.onBatchFlushed = onBatchFlushed
    }

    /// Subscribers flushed per slice of a batch: a quarter of the batch's subscribers, at least
    /// 16 and at most 128, so a batch for more than 16 subscribers takes at least two loop turns
    /// (the loop reads what came meanwhile), and a slice of 128 socket writes (~0.5 ms) delays
    /// the loop's other work no more than that.
    static func sliceSize(flushing subscribers: Int) -> Int {
        min(128, max(16, subscribers / 4))
    }

    /// Between two slices the loop waits this long at most for I/O before the next slice: a
    /// task scheduled for later (not `execute`, which would run in the same loop turn) lets it
    /// go through its I/O first. It sleeps only when no socket is ready.
    static let sliceYield = TimeAmount.microseconds(10)

    /// Runs a batch of commands (the hub hands over the next only after `onBatchFlushed`):
    /// queues each update on its subscribers, then flushes each subscriber once, in slices.
    func process(_ commands: [ShardCommand]) {
        self.eventLoop.assertInEventLoop()
        batch = ShardBatch()
        for command in commands {
            switch command {
            case .deliver(let stored):
                batch.updates += 1
                deliver(stored)
            case .register(let subscriber, let replay, let gap, let padded, let expiry):
                register(subscriber, replay: replay, gapAfter: gap, padded: padded, expiry: expiry)
            case .unregister(let id, let reason): remove(id, reason: reason)
            case .shutdown: shutdown()
            }
        }
        flushSlices(Self.sliceSize(flushing: toFlush.count))
    }

    /// Flushes the next `size` subscribers of `toFlush`; schedules the rest after the loop's I/O,
    /// or ends the batch.
    private func flushSlices(_ size: Int) {
        let end = min(toFlush.count, flushed + size)
        while flushed < end {
            let subscriber = toFlush[flushed]
            flushed += 1
            // Not when a heartbeat flushed it meanwhile. (One that left has a closed sink: a no-op.)
            guard subscriber.needsFlush else { continue }
            subscriber.needsFlush = false
            subscriber.sink.flush()
            batch.writes += 1
        }
        if flushed < toFlush.count {
            eventLoop.assumeIsolated().scheduleTask(in: Self.sliceYield) { self.flushSlices(size) }
            return
        }
        toFlush.removeAll(keepingCapacity: true)
        flushed = 0
        onBatchFlushed(batch)
    }

    private func deliver(_ stored: StoredUpdate) {
        let update = stored.update
        for topic in update.topics {
            guard let exact = byExactTopic[topic] else { continue }
            for subscriber in exact.values where subscriber.lastSequence != stored.sequence {
                guard subscriber.isAuthorized(for: update) else { continue }
                send(stored, to: subscriber)
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
                send(stored, to: subscriber)
            }
        }
    }

    private func send(_ stored: StoredUpdate, to subscriber: HubSubscriber) {
        subscriber.lastSequence = stored.sequence
        if let skip = subscriber.skipUpTo {
            if let position = stored.update.position, position <= skip { return }
            subscriber.skipUpTo = nil  // past the replayed range: nothing more to skip
        }
        if write(stored.encoded, to: subscriber) { batch.deliveries += 1 }
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

    private func register(
        _ subscriber: HubSubscriber,
        replay: [StoredUpdate],
        gapAfter: String?,
        padded: Bool,
        expiry: NIODeadline?
    ) {
        if isShutDown {
            subscriber.sink.close(.shutdown)
            onRemove(subscriber)
            return
        }
        var buffers: [EncodedEvent] = padded ? [Hub.paddingComment] : []
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
        if let expiry {
            expiries[subscriber.id] = expiry
            armExpiryTimer(for: expiry)
        }
    }

    private func remove(_ id: UInt64, reason: StreamCloseReason) {
        guard let subscriber = subscribers.removeValue(forKey: id) else { return }
        expiries[id] = nil
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
    /// so a scan of the expiring subscribers costs at most that often).
    private func armExpiryTimer(for deadline: NIODeadline) {
        if let set = expiryTimerDeadline, set <= deadline { return }
        expiryTimer?.cancel()
        expiryTimerDeadline = deadline
        expiryTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.closeExpired()
        }
    }

    private func closeExpired() {
        expiryTimer = nil
        expiryTimerDeadline = nil
        guard !expiries.isEmpty, !isShutDown else { return }
        let now = NIODeadline.now()
        var next: NIODeadline?
        var expired: [UInt64] = []
        for (id, expiry) in expiries {
            if expiry <= now {
                expired.append(id)
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
        scheduleHeartbeat(in: interval)
    }

    /// The next tick, `interval` from now (each tick sets the next, so it runs isolated to the
    /// loop: NIO's repeated tasks take only `Sendable` work).
    private func scheduleHeartbeat(in interval: TimeAmount) {
        heartbeatTask = eventLoop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, self.heartbeatTask != nil else { return }
            self.beat()
            self.scheduleHeartbeat(in: interval)
        }
    }

    /// Sends a comment to every subscriber that got nothing since the previous tick, flushed at
    /// once (it may run between two slices of a batch, whose flush list it leaves alone).
    private func beat() {
        for subscriber in Array(subscribers.values) {
            if subscriber.activeSinceHeartbeat {
                subscriber.activeSinceHeartbeat = false
            } else {
                write(heartbeat, to: subscriber, flushing: true)
                subscriber.activeSinceHeartbeat = false
            }
        }
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
