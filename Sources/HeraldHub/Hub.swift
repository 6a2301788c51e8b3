import CoreMetrics
import Logging
import struct Foundation.Date
import NIOConcurrencyHelpers
import NIOCore
import ServerSentEvents
import ServiceLifecycle
import Synchronization

/// The heart of Herald: takes updates from a broker, keeps a bounded history, and fans each
/// update out (encoded once) to every matching subscriber, one hop per event loop.
///
/// Replay and live delivery join without gap or duplicate: a subscriber's history snapshot and
/// its registration are ordered with publishes under one lock, and each shard runs its commands
/// in that order.
public final class Hub: Sendable {
    /// The configuration this hub was made with.
    public let configuration: HubConfiguration
    /// The broker that carries updates to this hub (and to the other nodes).
    public let broker: any Broker
    let logger: Logger
    /// One shard per event loop, each usable on its loop only.
    let shards: [NIOLoopBoundBox<HubShard>]
    /// The shards' event loops, by shard index (readable anywhere).
    let shardLoops: [any EventLoop]
    private let state: NIOLockedValueBox<State>
    /// The comment a stream gets when the hub shuts down (asks the client to reconnect); a
    /// custom `SubscriberSink` writes it after `close(.shutdown)`.
    public let shutdownNotice: EncodedEvent
    /// The comment a stream gets when its authorization expires (asks for a fresh token).
    public let expiryNotice: EncodedEvent
    /// Rung when subscriptions start or end; `run()` then records and announces them in batches.
    private let presenceBell: AsyncStream<Void>.Continuation
    private let presenceRings: AsyncStream<Void>
    /// Compiled selectors, shared by every subscription that uses the same text.
    let selectorCache: TopicSelectorCache
    /// The swift-metrics instruments; nil with the no-op backend (nothing is recorded).
    let metrics: HubMetrics?
    /// The metrics backend this hub reports to; nil when it is the no-op one, so that the
    /// other modules make no instrument either.
    package var metricsFactory: (any MetricsFactory)? { metrics?.factory }
    /// Mirrors `State.backlog.isBacklogged`, readable without the lock on every publish.
    private let backlogged = Atomic<Bool>(false)
    /// Failed catch-up reads the broker retried (see `BrokerIntake.countCatchUpRetry()`).
    private let catchUpRetries = Atomic<UInt64>(0)
    /// Subscriptions that started with the gap event.
    private let gapEvents = Atomic<UInt64>(0)
    /// Publishes dropped as retries of an id still in history (here or in the broker).
    private let publishDuplicates = Atomic<UInt64>(0)

    private struct State {
        var history: History
        var nextSequence: UInt64 = 0
        var inboxes: [[ShardCommand]]
        var drainScheduled: [Bool]
        /// Per shard, when the oldest update of its batch in flight was accepted (metrics only).
        var batchAccepted: [NIODeadline?]
        var nextShard = 0
        var nextSubscriberID: UInt64 = 0
        var isShutDown = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        /// The listed subscriptions (the subscriptions API, the registry), by subscriber.
        var subscriptions: [UInt64: TrackedSubscription] = [:]
        /// Subscribers neither listed nor announced (`SubscribeRequest.isAnnounced`: long-polls).
        var unannounced: Set<UInt64> = []
        /// Subscription starts and ends not yet recorded in the registry nor announced.
        var presence: PresenceChanges
        /// Subscribers registered (or being registered) per shard: a shard with none is not
        /// woken up for a publish.
        var shardSubscribers: [Int]
        var dispatched: UInt64 = 0
        var delivered: UInt64 = 0
        var opened: UInt64 = 0
        var dropped: UInt64 = 0
        var backlog: FanOutBacklog
    }

    /// Creates a hub; the default broker keeps everything inside this process.
    public init(
        configuration: HubConfiguration = HubConfiguration(),
        broker: any Broker = InMemoryBroker(),
        logger: Logger = Logger(label: "herald.hub")
    ) {
        self.configuration = configuration
        self.broker = broker
        self.logger = logger
        let metrics = HubMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.metrics = metrics
        self.selectorCache = TopicSelectorCache(matchingStates: metrics?.matchingStates)
        self.shutdownNotice = EncodedEvent(ServerSentEventComment.encoded("herald: shutting down, please reconnect"))
        self.expiryNotice = EncodedEvent(
            ServerSentEventComment.encoded("herald: authorization expired, reconnect with a fresh token")
        )
        let loops = Array(configuration.eventLoopGroup.makeIterator())
        // Shards exist before `self` does; they reach the hub through this weak reference.
        let owner = HubReference()
        self.shardLoops = loops
        self.shards = loops.indices.map { index in
            NIOLoopBoundBox.makeBoxSendingValue(
                HubShard(
                    eventLoop: loops[index],
                    heartbeatInterval: configuration.heartbeatInterval,
                    onRemove: { subscriber in owner.hub?.forget(subscriber, shard: index) },
                    onDrop: { owner.hub?.countDrop() },
                    onBatchFlushed: { batch in owner.hub?.batchFlushed(batch, shard: index) }
                ),
                eventLoop: loops[index]
            )
        }
        self.state = NIOLockedValueBox(
            State(
                history: History(capacity: configuration.historySize),
                inboxes: Array(repeating: [], count: loops.count),
                drainScheduled: Array(repeating: false, count: loops.count),
                batchAccepted: Array(repeating: nil, count: loops.count),
                presence: PresenceChanges(limit: configuration.maxPendingPresenceChanges),
                shardSubscribers: Array(repeating: 0, count: loops.count),
                backlog: FanOutBacklog(shards: loops.count, limit: configuration.maxFanOutBacklog)
            )
        )
        (self.presenceRings, self.presenceBell) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        owner.set(self)
        broker.attach(BrokerIntake(hub: self))
    }

    /// Records subscription starts and ends in the broker's registry and announces them
    /// (presence), in batches, until cancelled; runs as part of `run()`.
    ///
    /// A batch gathers what changed during `presenceBatchInterval` (and while the previous
    /// batch was being written); a subscription that started and ended in between is neither
    /// recorded nor announced. Each batch costs the broker one registry update and one
    /// announcement, whatever its size: churn costs work per change that lasted, never per
    /// change and selector. Pending changes are bounded (`maxPendingPresenceChanges`); when
    /// some were dropped, or a write failed, the next batch rewrites the registry whole.
    private func recordSubscriptions() async {
        for await _ in presenceRings {
            if configuration.presenceBatchInterval > .zero {
                // Not synchronisation: the batching window (cancellation ends it early).
                try? await Task.sleep(for: configuration.presenceBatchInterval)
            }
            let (batch, live) = self.state.withLockedValue { state in
                let batch = state.presence.take()
                // The live subscriptions as of this batch: later changes come in later batches.
                return (batch, batch.rewritesRegistry ? Array(state.subscriptions.values) : [])
            }
            if batch.changes.isEmpty && !batch.rewritesRegistry { continue }
            let recorded = await record(batch, live: live.map(\.active))
            await announce(batch.changes)
            if !recorded {
                // The registry missed this batch: the next one rewrites it, after a pause (the
                // broker is failing; changes meanwhile wait, within their bound).
                self.state.withLockedValue { $0.presence.rewriteRegistry() }
                try? await Task.sleep(for: .seconds(1))
                presenceBell.yield()
            }
        }
    }

    /// Writes one batch to the broker's registry; false when the write failed.
    private func record(_ batch: PresenceChanges.Batch, live: [ActiveSubscription]) async -> Bool {
        do {
            if batch.rewritesRegistry {
                try await broker.replaceRegistry(with: live)
            } else {
                try await broker.updateRegistry(
                    added: batch.changes.filter(\.active).map(\.subscription),
                    removed: batch.changes.filter { !$0.active && $0.inRegistry }.map(\.subscription.id)
                )
            }
            return true
        } catch {
            logger.debug("subscription registry not updated", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Whether subscriptions to `selector` get presence updates.
    private func announces(_ selector: String) -> Bool {
        configuration.publishesSubscriptionEvents
            || configuration.subscriptionEventSelectors.contains { $0.matches(selector) }
    }

    /// Announces one batch of changes: one presence update per announced selector of each, all
    /// handed to the broker at once (`Broker.announce`). Their topics embed the
    /// (percent-encoded) selector, so they may exceed `maxTopicLength`: the hub makes them
    /// itself, and they are private, so only subscribers holding a claim (never anonymous ones)
    /// match templates against them.
    private func announce(_ changes: [PresenceChanges.Change]) async {
        var updates: [Update] = []
        for change in changes {
            for resource in change.subscription.resources where announces(resource.topic) {
                let announced = SubscriptionResource(
                    topic: resource.topic,
                    subscriber: resource.subscriber,
                    active: change.active,
                    payload: resource.payload,
                    matchType: resource.matchType
                )
                let update = Update(topics: [announced.iri], data: announced.json, isPrivate: true)
                guard (try? update.validate()) != nil else { continue }
                updates.append(update)
            }
        }
        if updates.isEmpty || self.state.withLockedValue({ $0.isShutDown }) { return }
        do {
            try await broker.announce(updates)
            await waitForFanOut()
        } catch {
            logger.debug("presence updates not published", metadata: ["error": "\(error)", "count": "\(updates.count)"])
        }
    }

    /// The broker found this node's registry entries gone: the next batch rewrites them.
    func registryLost() {
        let ring = self.state.withLockedValue { state -> Bool in
            guard !state.subscriptions.isEmpty else { return false }
            state.presence.rewriteRegistry()
            return true
        }
        if ring { presenceBell.yield() }
    }

    /// Subscription starts and ends waiting for their batch (at most `maxPendingPresenceChanges`).
    package var pendingPresenceChanges: Int {
        self.state.withLockedValue { $0.presence.count }
    }

    // MARK: publishing

    /// Publishes an update to every subscriber (on every node) and into history; returns its id.
    @discardableResult
    public func publish(_ update: Update) async throws -> String {
        do {
            try update.validate(maxTopicLength: configuration.maxTopicLength)
        } catch {
            throw HubError.invalidUpdate(error.reason)
        }
        if self.state.withLockedValue({ $0.isShutDown }) { throw HubError.shuttingDown }
        let id = try await broker.publish(update)
        await waitForFanOut()
        return id
    }

    /// Returns once no shard is behind (at once when none is now, or after shutdown); shutdown
    /// and cancellation release it too.
    package func waitForFanOut() async {
        guard isFanOutBacklogged else { return }
        let wake = WakeOnce()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                wake.arm(continuation)
                if Task.isCancelled || !whenFanOutCatchesUp({ wake.fire() }) { wake.fire() }
            }
        } onCancel: {
            wake.fire()
        }
    }

    /// Whether some shard has more fan-out work queued than `configuration.maxFanOutBacklog`:
    /// publishers should hold back (stop reading the connection) until `whenFanOutCatchesUp`.
    package var isFanOutBacklogged: Bool { backlogged.load(ordering: .relaxed) }

    /// Calls `resume` (on a shard's event loop) once every shard's fan-out work is back under
    /// half the bound, or at shutdown, and returns true; returns false, never calling it, when
    /// there is no backlog now or the hub has shut down.
    package func whenFanOutCatchesUp(_ resume: @escaping @Sendable () -> Void) -> Bool {
        self.state.withLockedValue { state in
            // After shutdown nothing waits: the shards may never run again.
            guard state.backlog.isBacklogged, !state.isShutDown else { return false }
            state.backlog.waiters.append(resume)
            return true
        }
    }

    /// Publishes without suspending when the broker can (in memory); nil when it cannot (use
    /// `publish(_:)`), and nil too for an invalid update or a hub shutting down, so that the
    /// caller's regular path reports the error.
    package func publishImmediately(_ update: Update) -> String? {
        guard (try? update.validate(maxTopicLength: configuration.maxTopicLength)) != nil else { return nil }
        if self.state.withLockedValue({ $0.isShutDown }) { return nil }
        return broker.publishImmediately(update)
    }

    /// Starts a publish that waits on the broker without a task (see
    /// `Broker.publishOnLoop(_:)`); nil when the broker cannot, and nil too for an invalid
    /// update or a hub shutting down, so that the caller's regular path reports the error.
    package func publishOnLoop(_ update: Update) -> EventLoopFuture<String>? {
        guard (try? update.validate(maxTopicLength: configuration.maxTopicLength)) != nil else { return nil }
        if self.state.withLockedValue({ $0.isShutDown }) { return nil }
        return broker.publishOnLoop(update)
    }

    /// The SSE event type of the in-band gap signal: a subscription whose `Last-Event-ID` is not
    /// in history (evicted, unknown, or lost with a Redis that restarted without persistence)
    /// starts with one such event, so the application knows it missed updates and should
    /// reload its state. Its data is `{"lastEventID":"<the id asked for>"}`; it has no `id`
    /// line (the client's last id stays what it was) and is never stored in history. What
    /// follows it is whatever the hub can still replay after that id (nothing when the id is
    /// unknown), then live updates.
    public static let gapEventType = "herald-gap"

    /// The comment that opens a padded stream (`SubscribeRequest.padded`): 2 KiB in all.
    package static let paddingComment = EncodedEvent(
        ByteBuffer(string: ":" + String(repeating: " ", count: 2046) + "\n")
    )

    /// The gap event for a subscriber that asked to resume after `lastEventID`.
    static func gapEvent(lastEventID: String) -> EncodedEvent {
        let data = "{\"lastEventID\":" + SubscriptionResource.jsonString(lastEventID) + "}"
        let event = ServerSentEvent(data: data, event: gapEventType)
        // Valid by construction: JSON escapes every line break, and the type is a constant.
        return (try? EncodedEvent { buffer throws(ServerSentEventEncodingError) in try event.encode(into: &buffer) })
            ?? EncodedEvent(ByteBuffer(string: "event: \(gapEventType)\ndata: {}\n\n"))
    }

    /// An update with its encoded bytes; nil (and logged) when it cannot be written as SSE.
    static func stored(_ update: Update, sequence: UInt64) -> StoredUpdate? {
        encode(update).map { StoredUpdate(sequence: sequence, update: update, encoded: $0) }
    }

    /// An update's SSE bytes, framed once for every subscriber; nil when it cannot be SSE.
    ///
    /// A subscription event (presence) goes out without an `id:` line: it is never kept in
    /// history, so its id could not be replayed from. With an id, a client whose last event was
    /// a presence update would come back with an id the hub does not hold, get `herald-gap`,
    /// and miss the real updates published meanwhile; without one, the client keeps the id of
    /// the last real update (EventSource keeps the last id across events that have none).
    static func encode(_ update: Update) -> EncodedEvent? {
        let id = update.isSubscriptionEvent ? nil : update.id
        let event = ServerSentEvent(data: update.data, event: update.type, id: id, retry: update.retry)
        return try? EncodedEvent { buffer throws(ServerSentEventEncodingError) in try event.encode(into: &buffer) }
    }

    /// Takes one update from the broker: records it and hands it to every shard.
    ///
    /// An update the broker did not order (no `position`: the in-memory broker) whose id is
    /// still in history is a publisher's retry: it is stored and delivered once. A broker that
    /// orders updates (Redis) drops such retries itself, atomically with storing them.
    func dispatch(_ update: Update) {
        guard let encoded = Self.encode(update) else {
            logger.error("dropping an update that cannot be encoded as SSE", metadata: ["id": "\(update.id ?? "-")"])
            return
        }
        let idKey = update.id?.hashValue  // hashed before taking the lock
        let metrics = self.metrics
        let accepted = metrics == nil ? NIODeadline.uptimeNanoseconds(0) : .now()
        let dispatched = self.state.withLockedValue { state -> (toSchedule: [Int], evicted: StoredUpdate?, grew: Bool)? in
            if update.position == nil, let id = update.id, let idKey, state.history.contains(id, key: idKey) {
                return nil  // a retried publish: already stored and delivered
            }
            let stored = StoredUpdate(
                sequence: state.nextSequence,
                update: update,
                encoded: encoded,
                idKey: idKey,
                accepted: accepted
            )
            state.nextSequence += 1
            state.dispatched += 1
            // Presence is live-only: stored, it would push real updates out of the history.
            let retained = state.history.ring.count
            let evicted = update.isSubscriptionEvent ? nil : state.history.append(stored)
            var toSchedule: [Int] = []
            for index in state.inboxes.indices where state.shardSubscribers[index] > 0 {
                if state.backlog.queued(on: index, subscribers: state.shardSubscribers[index]) {
                    self.backlogged.store(true, ordering: .relaxed)
                    metrics?.backlogged.record(1)  // a transition: under the lock, in order with 0
                }
                state.inboxes[index].append(.deliver(stored))
                if !state.drainScheduled[index] {
                    state.drainScheduled[index] = true
                    toSchedule.append(index)
                }
            }
            return (toSchedule, evicted, state.history.ring.count > retained)
        }
        guard let (toSchedule, evicted, grew) = dispatched else {
            countDuplicatePublish()
            return
        }
        withExtendedLifetime(evicted) {}  // freed here, outside the lock
        if let metrics {
            metrics.updates.increment()
            if grew { metrics.history.increment() }
        }
        for index in toSchedule { scheduleDrain(index) }
    }

    /// Hands shard `index` what waits in its inbox, on its loop. `drainScheduled[index]` stays
    /// true from here until the shard has flushed the batch (`batchFlushed`): one batch at a
    /// time per shard, and what arrives meanwhile waits for the next.
    private func scheduleDrain(_ index: Int) {
        let shard = shards[index]
        shardLoops[index].execute {
            let metrics = self.metrics
            let commands = self.state.withLockedValue { state -> [ShardCommand] in
                let commands = Self.takeBatch(from: &state.inboxes[index])
                // When the batch's oldest update was accepted (metrics only): its publish-to-write
                // time is recorded once the shard has flushed the batch (`batchFlushed`).
                if let metrics { state.batchAccepted[index] = metrics.oldestAccepted(commands) }
                return commands
            }
            shard.value.process(commands)
        }
    }

    /// Most updates, and most bytes of updates, one batch takes from a shard's inbox (the rest
    /// waits for the next batch). A batch queues all its events on a subscriber before that
    /// subscriber is flushed, so this bounds what one batch queues on one connection, far below
    /// the per-subscriber bounds (`maxQueuedBytes`, `maxQueuedEvents`): a subscriber that reads
    /// is never dropped because the updates it missed during a stall arrive together.
    static let maxBatchUpdates = 1024
    static let maxBatchBytes = 1024 * 1024

    /// Takes the next batch from `inbox`, in order: everything, unless that passes
    /// `maxBatchUpdates` or `maxBatchBytes` (at least one update is taken).
    static func takeBatch(from inbox: inout [ShardCommand]) -> [ShardCommand] {
        var updates = 0
        var bytes = 0
        var end = 0
        while end < inbox.count {
            if case .deliver(let stored) = inbox[end] {
                if updates == maxBatchUpdates || (updates > 0 && bytes + stored.encoded.chunk.readableBytes > maxBatchBytes) {
                    break
                }
                updates += 1
                bytes += stored.encoded.chunk.readableBytes
            }
            end += 1
        }
        if end == inbox.count {
            defer { inbox = [] }
            return inbox
        }
        defer { inbox.removeFirst(end) }
        return Array(inbox[..<end])
    }

    /// Shard `index` flushed its batch (on its loop): counts it, resumes publishers held back by
    /// a backlog that is over, and hands the shard its next batch when one is waiting.
    private func batchFlushed(_ batch: ShardBatch, shard index: Int) {
        let (resumed, next, accepted) = self.state.withLockedValue { state -> ([@Sendable () -> Void], Bool, NIODeadline?) in
            var resumed: [@Sendable () -> Void] = []
            if batch.updates > 0 {
                state.delivered += UInt64(batch.deliveries)
                resumed = state.backlog.processed(batch.updates, deliveries: batch.deliveries, on: index)
                if !state.backlog.isBacklogged, self.backlogged.load(ordering: .relaxed) {
                    self.backlogged.store(false, ordering: .relaxed)
                    self.metrics?.backlogged.record(0)  // a transition: under the lock, in order with 1
                }
            }
            let accepted = state.batchAccepted[index]
            state.batchAccepted[index] = nil
            let next = !state.inboxes[index].isEmpty
            if !next { state.drainScheduled[index] = false }
            return (resumed, next, accepted)
        }
        self.metrics?.fanOutBatch(writes: batch.writes, deliveries: batch.deliveries, oldestAccepted: accepted)  // the one call per batch
        for resume in resumed { resume() }
        if next { scheduleDrain(index) }
    }

    private func enqueue(_ command: ShardCommand, shard index: Int, in state: inout State) -> Bool {
        state.inboxes[index].append(command)
        if state.drainScheduled[index] { return false }
        state.drainScheduled[index] = true
        return true
    }

    // MARK: subscribing

    /// Starts a subscription: replays what `request.lastEventID` missed, then follows live.
    /// An id this hub does not hold (a reconnect to a node that started later) is looked up
    /// in the broker's own history, when it keeps one. An id neither holds starts the stream
    /// with the gap event (`gapEventType`): the one place that decides it, for every path.
    public func subscribe(_ request: SubscribeRequest) async throws(HubError) -> Subscription {
        let queue = SubscriptionQueue(
            maxBytes: configuration.maxQueuedBytes,
            maxEvents: configuration.maxQueuedEvents,
            finalNotices: finalNotices
        )
        return try await subscribe(request, sink: queue, shard: nil, queue: queue)
    }

    /// Starts a subscription whose bytes go straight to `sink`, called only on `eventLoop`
    /// (which must be one of the hub's, see `hasShard(on:)`): the subscriber lives on that
    /// loop's shard, so a server can write to the connection with no task or thread hop.
    /// The sink enforces the queue bounds of `configuration` itself; `Subscription.stream(to:)`
    /// is not available for such a subscription.
    public func subscribe(
        _ request: SubscribeRequest,
        sink: any SubscriberSink,
        on eventLoop: any EventLoop
    ) async throws(HubError) -> Subscription {
        guard let index = shardLoops.firstIndex(where: { $0 === eventLoop }) else {
            preconditionFailure("Hub.subscribe(_:sink:on:) needs one of the hub's event loops")
        }
        return try await subscribe(request, sink: sink, shard: index, queue: nil)
    }

    /// Whether `eventLoop` is one of the hub's (so `subscribe(_:sink:on:)` accepts it).
    public func hasShard(on eventLoop: any EventLoop) -> Bool {
        shardLoops.contains { $0 === eventLoop }
    }

    private func subscribe(
        _ request: SubscribeRequest,
        sink: any SubscriberSink,
        shard: Int?,
        queue: SubscriptionQueue?
    ) async throws(HubError) -> Subscription {
        try checkLimits(count: request.selectors.count, lengths: request.selectors.lazy.map(\.rawValue.utf8.count))
        try checkTemplateCost(request.selectors)
        var durable: BrokerHistory?
        // An empty id is no id (EventSource sends none after an event that cleared it).
        let lastEventID = request.lastEventID.flatMap { $0.isEmpty ? nil : $0 }
        if let lastEventID,
            lastEventID == Update.earliestID || !self.state.withLockedValue({ $0.history.contains(lastEventID) })
        {
            do {
                // Twice the history: a broker trims approximately (Redis `MAXLEN ~`).
                durable = try await broker.updates(after: lastEventID, limit: 2 * max(configuration.historySize, 1))
            } catch {
                logger.warning("broker history unavailable for replay", metadata: ["error": "\(error)"])
            }
        }
        let subscriptionID = RandomUUID.next()
        let durableStored = durable?.updates.compactMap { Self.stored($0, sequence: 0) }
        // The shared compiled instances of the selectors (released when the subscriber goes).
        guard let selectors = selectorCache.retain(request.selectors, budget: configuration.maxMatchingStates) else {
            throw .overloaded(
                "too many distinct topic selectors in use on this hub (more than \(configuration.maxMatchingStates ?? 0) matching states)"
            )
        }
        let privateSelectors = request.privateSelectors.map { selectorCache.retain($0) }
        let result = self.state.withLockedValue { state -> (UInt64, Int, String?, Bool, Bool)? in
            if state.isShutDown { return nil }
            let id = state.nextSubscriberID
            state.nextSubscriberID += 1
            let index = shard ?? state.nextShard
            if shard == nil { state.nextShard = (state.nextShard + 1) % shardLoops.count }
            var replay: [StoredUpdate] = []
            var found = true  // false: the subscriber is told of a gap before any replay
            var skipUpTo: UpdatePosition?
            if let durable, let durableStored {
                // Broker history older than what this hub holds, then this hub's history after
                // the anchor; live updates up to the replayed range are skipped.
                let ring = Array(state.history.ring)
                let firstLocal = ring.first?.update.position
                let prefix = durableStored.filter { stored in
                    guard let firstLocal else { return true }
                    return stored.update.position.map { $0 < firstLocal } ?? false
                }
                let anchor = durable.after
                replay = prefix + ring.filter { stored in
                    guard let anchor, let position = stored.update.position else { return true }
                    return position > anchor
                }
                skipUpTo = [anchor, prefix.last?.update.position].compactMap { $0 }.max()
                found = !durable.missedSome
            } else if let lastEventID {
                if let missed = state.history.updates(after: lastEventID) {
                    replay = missed
                } else {
                    found = false
                }
            }
            let subscriber = HubSubscriber(
                id: id,
                selectors: selectors,
                privateSelectors: privateSelectors,
                sink: sink
            )
            subscriber.skipUpTo = skipUpTo
            if request.isAnnounced {
                let tracked = TrackedSubscription(
                    id: subscriptionID,
                    topics: request.selectors.map(\.rawValue),
                    payload: request.payload,
                    matchTypes: request.matcherPayloads == nil
                        ? nil : request.selectors.map(SubscriptionResource.matchType(of:)),
                    matcherPayloads: request.matcherPayloads
                )
                state.subscriptions[id] = tracked
                if state.presence.started(tracked.active) { self.metrics?.presenceChangesDropped.increment() }
            } else {
                state.unannounced.insert(id)
            }
            state.shardSubscribers[index] += 1
            state.opened += 1
            // Under the lock, before the shard can see it: its decrement (`forget`) comes after.
            self.metrics?.subscribers.increment()
            let gap = found ? nil : lastEventID
            let schedule = enqueue(
                .register(
                    subscriber,
                    replay: replay,
                    gapAfter: gap,
                    padded: request.padded,
                    expiry: request.authorizationExpiry.map(Self.deadline(at:))
                ),
                shard: index,
                in: &state
            )
            return (id, index, state.history.lastID, found, schedule)
        }
        guard let (id, index, lastID, found, schedule) = result else {
            selectorCache.release(selectors)
            if let privateSelectors { selectorCache.release(privateSelectors) }
            throw .shuttingDown
        }
        if schedule { scheduleDrain(index) }
        presenceBell.yield()
        metrics?.subscriptionsOpened.increment()
        if !found {
            gapEvents.add(1, ordering: .relaxed)
            metrics?.gapEvents.increment()
            logger.debug(
                "Last-Event-ID not in history; the stream starts with \(Self.gapEventType)",
                metadata: ["lastEventID": "\(lastEventID ?? "")"]
            )
        }
        return Subscription(
            hub: self,
            subscriberID: id,
            shardIndex: index,
            id: subscriptionID,
            lastEventID: lastID,
            replayFound: found,
            queue: queue
        )
    }

    /// Stops serving one subscriber; safe to call more than once.
    func unsubscribe(_ subscriberID: UInt64, shard index: Int, reason: StreamCloseReason) {
        let schedule = self.state.withLockedValue { state in
            enqueue(.unregister(subscriberID, reason), shard: index, in: &state)
        }
        if schedule { scheduleDrain(index) }
    }

    func countCatchUpRetry() {
        catchUpRetries.add(1, ordering: .relaxed)
        metrics?.catchUpRetries.increment()
    }

    func countDuplicatePublish() {
        publishDuplicates.add(1, ordering: .relaxed)
        metrics?.publishDuplicates.increment()
    }

    private func countDrop() {
        self.state.withLockedValue { $0.dropped += 1 }
        metrics?.dropped.increment()
    }

    /// Called by the shard once per subscriber that leaves it; releases the shared selectors the
    /// subscriber holds (read from the subscriber itself: a second per-subscriber copy of them in
    /// the hub's state cost ~90 bytes per idle stream).
    private func forget(_ subscriber: HubSubscriber, shard index: Int) {
        let wasRecorded = self.state.withLockedValue { state -> Bool in
            state.shardSubscribers[index] -= 1
            if let removed = state.subscriptions.removeValue(forKey: subscriber.id) {
                if state.presence.ended(removed.active) { metrics?.presenceChangesDropped.increment() }
                return true
            }
            // A long-poll: never listed, its selectors are released all the same.
            return state.unannounced.remove(subscriber.id) != nil
        }
        if wasRecorded {
            selectorCache.release(subscriber.selectors)
            if let privateSelectors = subscriber.privateSelectors { selectorCache.release(privateSelectors) }
        }
        metrics?.subscribers.decrement()
        presenceBell.yield()
    }

    // MARK: limits

    /// Parses the selectors a subscription asks for, read as Mercure 0.x `topic=` selectors,
    /// within this hub's limits (`maxSelectors`, `maxTopicLength`, and the templates' own
    /// complexity bounds); a template already in use is not compiled again. Throws
    /// `invalidSubscription` with a short reason.
    package func selectors(_ raw: [String]) throws(HubError) -> [TopicSelector] {
        try selectors(raw.map { (text: $0, syntax: TopicSelector.Syntax.topic) })
    }

    /// Parses the selectors of a subscription that may mix syntaxes (Mercure 1.0 `match=` and
    /// `match_urlpattern=`), each read as its `syntax` says, within this hub's limits (checked
    /// over all of them); a relative URL pattern is resolved against `baseURL` (the hub's public
    /// URL). A selector already in use is not compiled again. Throws `invalidSubscription`.
    package func selectors(
        _ raw: [(text: String, syntax: TopicSelector.Syntax)],
        baseURL: String? = nil
    ) throws(HubError) -> [TopicSelector] {
        try checkLimits(count: raw.count, lengths: raw.lazy.map(\.text.utf8.count))
        var selectors: [TopicSelector] = []
        selectors.reserveCapacity(raw.count)
        for (text, syntax) in raw {
            do {
                selectors.append(
                    try selectorCache.selector(
                        for: text, syntax: syntax, baseURL: baseURL, maxLength: configuration.maxTopicLength
                    )
                )
            } catch {
                throw .invalidSubscription("invalid topic selector: \(error.reason)")
            }
        }
        try checkTemplateCost(selectors)
        return selectors
    }

    /// The selectors of an authorization claim (`mercure.subscribe`), sharing templates already
    /// in use; invalid ones are skipped (the claim was signed by a trusted party, and an
    /// unusable selector grants nothing).
    package func claimSelectors(_ raw: [String]) -> [TopicSelector] {
        raw.compactMap { try? selectorCache.selector(for: $0, maxLength: TopicSelector.maximumLength) }
    }

    /// The selectors of a 1.0 authorization (`authorization_details` topics: `match` read as its
    /// `match_type` says), sharing compiled selectors already in use; invalid ones are skipped
    /// like ``claimSelectors(_:)``'s.
    package func claimSelectors(
        _ raw: [(text: String, syntax: TopicSelector.Syntax)],
        baseURL: String? = nil
    ) -> [TopicSelector] {
        raw.compactMap {
            try? selectorCache.selector(
                for: $0.text, syntax: $0.syntax, baseURL: baseURL, maxLength: TopicSelector.maximumLength
            )
        }
    }

    /// Every update is matched against every distinct template and URL pattern, at a cost of
    /// O(topic length × matching states): a subscription's patterns may have `maxTemplateStates`
    /// states in all.
    private func checkTemplateCost(_ selectors: [TopicSelector]) throws(HubError) {
        var states = 0
        for selector in selectors { states += selector.matchingStates }
        if states > configuration.maxTemplateStates {
            throw .invalidSubscription(
                "topic selectors too complex in all (more than \(configuration.maxTemplateStates) matching states)"
            )
        }
    }

    /// The one place the subscription limits are checked (before any template is compiled).
    private func checkLimits(count: Int, lengths: some Sequence<Int>) throws(HubError) {
        if count > configuration.maxSelectors {
            throw .invalidSubscription("too many topics (max \(configuration.maxSelectors))")
        }
        if lengths.contains(where: { $0 > configuration.maxTopicLength }) {
            throw .invalidSubscription("invalid topic selector: longer than \(configuration.maxTopicLength) bytes")
        }
    }

    // MARK: inspection

    /// Subscriptions active on this hub, for the subscriptions API.
    public var activeSubscriptions: [ActiveSubscription] {
        // Rendered outside the lock (an id each).
        self.state.withLockedValue { Array($0.subscriptions.values) }.map(\.active)
    }

    /// The active subscriptions (of every node, when the broker keeps a shared registry) and
    /// the newest event id, taken together: replaying from that id after applying the list
    /// yields a consistent view (Mercure's subscriptions API contract).
    package func subscriptionsSnapshot() async -> (lastEventID: String?, subscriptions: [ActiveSubscription]) {
        let (lastID, tracked) = self.state.withLockedValue { ($0.history.lastID, Array($0.subscriptions.values)) }
        do {
            if let shared = try await broker.activeSubscriptions() { return (lastID, shared) }
        } catch {
            logger.warning("shared subscription registry unavailable; listing this node only")
        }
        // Ids rendered only when this node's own list is the answer.
        return (lastID, tracked.map(\.active))
    }

    /// Current counters.
    public var statistics: HubStatistics {
        self.state.withLockedValue { state in
            HubStatistics(
                subscribers: state.subscriptions.count + state.unannounced.count,
                dispatched: state.dispatched,
                delivered: state.delivered,
                subscriptionsOpened: state.opened,
                dropped: state.dropped,
                historyCount: state.history.ring.count,
                brokerCatchUpRetries: catchUpRetries.load(ordering: .relaxed),
                gapEvents: gapEvents.load(ordering: .relaxed),
                publishDuplicates: publishDuplicates.load(ordering: .relaxed),
                matchingStates: selectorCache.matchingStates,
                presenceChangesDropped: state.presence.dropped
            )
        }
    }

    /// The id of the newest update in history.
    public var lastEventID: String? {
        self.state.withLockedValue { $0.history.lastID }
    }

    /// The event-loop deadline of a wall-clock moment (a token's `exp`).
    static func deadline(at date: Date) -> NIODeadline {
        let seconds = date.timeIntervalSinceNow
        // Far-future tokens: a year is as good as forever for a stream, and keeps the sum finite.
        let nanoseconds = Int64(min(max(seconds, 0), 365 * 86_400) * 1_000_000_000)
        return .now() + .nanoseconds(nanoseconds)
    }

    /// The last bytes a stream gets when the hub ends it for `reason` (nil: none). Every sink
    /// writes these, so a client always learns why the server ended its stream.
    public func finalNotice(for reason: StreamCloseReason) -> EncodedEvent? {
        switch reason {
        case .shutdown: shutdownNotice
        case .authorizationExpired: expiryNotice
        case .tooSlow, .cancelled: nil
        }
    }

    private var finalNotices: [StreamCloseReason: ByteBuffer] {
        var notices: [StreamCloseReason: ByteBuffer] = [:]
        for reason in StreamCloseReason.allCases {
            notices[reason] = finalNotice(for: reason)?.bytes
        }
        return notices
    }

    // MARK: shutdown

    /// Closes every stream with a final comment (clients reconnect elsewhere or later) and
    /// refuses new subscriptions and publishes. Idempotent.
    public func shutdown() {
        let (waiters, schedule) = self.state.withLockedValue { state -> ([CheckedContinuation<Void, Never>], [Int]) in
            if state.isShutDown { return ([], []) }
            state.isShutDown = true
            var schedule: [Int] = []
            for index in state.inboxes.indices where enqueue(.shutdown, shard: index, in: &state) {
                schedule.append(index)
            }
            defer { state.shutdownWaiters = [] }
            return (state.shutdownWaiters, schedule)
        }
        for index in schedule { scheduleDrain(index) }
        for waiter in waiters { waiter.resume() }
        // Publishers held back by a backlog go on (their shards may never run again).
        let held = self.state.withLockedValue { state in
            if self.backlogged.load(ordering: .relaxed) { self.metrics?.backlogged.record(0) }
            self.backlogged.store(false, ordering: .relaxed)
            return state.backlog.release()
        }
        for resume in held { resume() }
    }

    /// Returns once `shutdown()` has been called.
    public func waitForShutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = self.state.withLockedValue { state -> Bool in
                if state.isShutDown { return true }
                state.shutdownWaiters.append(continuation)
                return false
            }
            if already { continuation.resume() }
        }
    }
}

extension Hub: Service {
    /// Runs the broker, and records and announces subscriptions (registry, presence), until
    /// graceful shutdown (or cancellation), then shuts the hub down.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.broker.run() }
            group.addTask { await self.recordSubscriptions() }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    await self.waitForShutdown()
                } onGracefulShutdown: {
                    self.shutdown()
                }
            } onCancel: {
                self.shutdown()
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }
}

/// A weak, lock-guarded reference from the shards to the hub that owns them.
private final class HubReference: Sendable {
    private let box = NIOLockedValueBox<Weak>(Weak())

    private struct Weak { weak var hub: Hub? }

    var hub: Hub? { box.withLockedValue { $0.hub } }

    func set(_ hub: Hub) { box.withLockedValue { $0.hub = hub } }
}

/// Subscription starts and ends waiting to be recorded and announced, oldest first, at most
/// `limit` of them. A subscription that ends before its start was taken is never recorded in
/// the registry and its start is never announced, but its end is: the subscriptions API lists
/// subscriptions from the moment they start, so a client may have seen it there, and without
/// the end it would keep it forever (the chat's presence kept a dead connection that way). When full, the oldest change is dropped for the newest (and counted), and the
/// batch that follows rewrites the registry whole (`rewritesRegistry`), since it missed one.
struct PresenceChanges {
    struct Change {
        var subscription: ActiveSubscription
        var active: Bool
        /// False for the end of a subscription whose start never left its batch: announced,
        /// but never written to the registry (which never had it).
        var inRegistry = true
    }

    /// What one batch records and announces.
    struct Batch {
        /// The changes, oldest first.
        var changes: [Change]
        /// Whether the registry missed changes (dropped, or a write failed): write it whole.
        var rewritesRegistry: Bool
    }

    let limit: Int
    private var changes: [String: Change] = [:]
    /// Ids in the order their change came; ids before `head` were dropped, and ids without a
    /// change cancelled out (both are compacted away as they pile up).
    private var order: [String] = []
    private var head = 0
    private var mustRewrite = false
    /// Changes dropped because `limit` were waiting, since the start.
    private(set) var dropped: UInt64 = 0

    init(limit: Int = .max) {
        self.limit = max(limit, 1)
    }

    /// Changes waiting.
    var count: Int { changes.count }

    /// Records a start; true when that dropped an older change to make room.
    @discardableResult
    mutating func started(_ subscription: ActiveSubscription) -> Bool {
        let dropped = makeRoom()
        changes[subscription.id] = Change(subscription: subscription, active: true)
        order.append(subscription.id)
        return dropped
    }

    /// Records an end; true when that dropped an older change to make room.
    @discardableResult
    mutating func ended(_ subscription: ActiveSubscription) -> Bool {
        if changes[subscription.id]?.active == true {
            // Its start never went out: the end replaces it in its place, for the clients
            // that listed it meanwhile; the registry never had it.
            changes[subscription.id] = Change(subscription: subscription, active: false, inRegistry: false)
            return false
        }
        let dropped = makeRoom()
        changes[subscription.id] = Change(subscription: subscription, active: false)
        order.append(subscription.id)
        return dropped
    }

    /// The registry missed changes: the next batch rewrites it whole.
    mutating func rewriteRegistry() {
        mustRewrite = true
    }

    /// The pending changes in order; leaves none.
    mutating func take() -> Batch {
        defer {
            changes = [:]
            order = []
            head = 0
            mustRewrite = false
        }
        return Batch(changes: order[head...].compactMap { changes.removeValue(forKey: $0) }, rewritesRegistry: mustRewrite)
    }

    /// When `limit` changes wait, drops the oldest (the newest state of each subscription
    /// wins); true when it dropped one.
    private mutating func makeRoom() -> Bool {
        guard changes.count >= limit else { return false }
        mustRewrite = true
        var droppedOne = false
        while head < order.count {
            let id = order[head]
            head += 1
            if changes.removeValue(forKey: id) != nil {
                dropped += 1
                droppedOne = true
                break
            }
        }
        compact()
        return droppedOne
    }

    /// Keeps `order` within a constant factor of the changes it orders.
    private mutating func compact() {
        guard order.count > 2 * changes.count + 1024 else { return }
        order = order[head...].filter { changes[$0] != nil }
        head = 0
    }
}

/// What the hub keeps of each listed subscription: an `ActiveSubscription` whose id is kept as
/// its 128 bits and rendered when asked for (a 45-byte string on the heap per idle stream
/// otherwise).
struct TrackedSubscription: Sendable {
    let id: RandomUUID.Bits
    let topics: [String]
    let payload: String?
    let matchTypes: [String]?
    let matcherPayloads: [String?]?

    /// The public record.
    var active: ActiveSubscription {
        ActiveSubscription(
            id: RandomUUID.urn(id),
            topics: topics,
            payload: payload,
            matchTypes: matchTypes,
            matcherPayloads: matcherPayloads
        )
    }
}
