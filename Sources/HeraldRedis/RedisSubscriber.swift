import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Receives Redis pub/sub messages on a dedicated connection that heals itself.
///
/// ``run()`` connects, and after a loss reconnects with exponential backoff and subscribes
/// again to every current channel and pattern. A periodic `PING` detects connections that
/// died silently (not while reading is paused for a slow consumer: replies wait behind the
/// unread messages, and no reply counts as late while the connection is not read). Messages
/// and connection changes come out of ``events``, in order, so a broker can catch up from its
/// history after each ``RedisSubscriberEvent/connected``.
/// Works over RESP3 (push frames) and RESP2 (subscribed-mode arrays).
///
/// Created with a ``RedisSubscriberSink``, it hands messages and connection changes to the sink
/// instead, synchronously on ``eventLoop`` (every message decoded from one read in one call);
/// ``events`` then carries nothing, and the sink paces reading with ``pauseReading()``.
public final class RedisSubscriber: Sendable {
    /// Messages and connection changes, in order; single consumer. Finishes when ``run()``
    /// returns, or on ``close()`` if `run()` was never started. A consumer that falls behind by
    /// ``RedisSubscriberOptions/maxBufferedMessages`` pauses reading (see ``RedisSubscriberEvents``).
    public var events: RedisSubscriberEvents {
        RedisSubscriberEvents(stream: stream) { [weak self] in self?.took() }
    }

    private let stream: AsyncStream<RedisSubscriberEvent>
    private let continuation: AsyncStream<RedisSubscriberEvent>.Continuation
    private let configuration: RedisConfiguration
    private let options: RedisSubscriberOptions
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(SubscriberState())
    private let sink: (any RedisSubscriberSink)?

    /// The event loop every connection of this subscriber runs on (a ``RedisSubscriberSink`` is
    /// called there).
    public let eventLoop: any EventLoop

    /// Creates a subscriber; nothing connects until ``run()``. The configuration's command
    /// timeout is replaced by the options' reply timeout.
    public init(
        configuration: RedisConfiguration,
        options: RedisSubscriberOptions = RedisSubscriberOptions(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.redis.subscriber"),
        sink: (any RedisSubscriberSink)? = nil
    ) {
        var configuration = configuration
        configuration.commandTimeout = options.replyTimeout
        self.configuration = configuration
        self.options = options
        self.eventLoop = eventLoopGroup.next()
        self.eventLoopGroup = eventLoop
        self.logger = logger
        self.sink = sink
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Whether a connection is up with all subscriptions confirmed.
    public var isConnected: Bool { state.withLockedValue { $0.isConnected } }

    /// The channels currently wanted (restored after every reconnect).
    public var channels: Set<String> { state.withLockedValue { $0.channels } }

    /// The patterns currently wanted (restored after every reconnect).
    public var patterns: Set<String> { state.withLockedValue { $0.patterns } }

    /// Messages received and not yet taken from ``events``.
    public var bufferedMessages: Int { state.withLockedValue { $0.buffered } }

    /// Whether reading is paused: the consumer is ``RedisSubscriberOptions/maxBufferedMessages``
    /// behind, or its sink asked (``pauseReading()``).
    public var isReadingPaused: Bool { state.withLockedValue { $0.readingPaused } }

    /// Stops reading the connection (and every later one) until ``resumeReading()``: what is
    /// published meanwhile waits in Redis (up to its pub/sub output buffer limit, past which
    /// Redis drops the connection). For a ``RedisSubscriberSink`` whose consumer is behind.
    /// Subscription changes still read on until confirmed, and a new connection reads until its
    /// subscriptions are confirmed. Called on ``eventLoop``, it takes effect before the next read.
    public func pauseReading() {
        let limit = options.maxBufferedMessages
        Self.updateReading(state) { state in
            state.consumerPaused = true
            return state.pauseIfFull(limit: limit)
        }
    }

    /// Ends ``pauseReading()``.
    public func resumeReading() {
        let low = options.maxBufferedMessages / 2
        Self.updateReading(state) { state in
            state.consumerPaused = false
            return state.buffered <= low ? state.resumeIfPaused() : nil
        }
    }

    /// Subscribes to `channels`. While connected, returns once the server has confirmed them;
    /// while disconnected, records them for the next connection and returns at once. Throws
    /// ``RedisError`` if the server refuses (the channels are then forgotten).
    public func subscribe(_ channels: [String]) async throws {
        try await apply(.subscribe, channels)
    }

    /// Subscribes to glob-style `patterns` (`news.*`), like ``subscribe(_:)``.
    public func psubscribe(_ patterns: [String]) async throws {
        try await apply(.psubscribe, patterns)
    }

    /// Unsubscribes from `channels`, or from every channel when empty.
    public func unsubscribe(_ channels: [String] = []) async throws {
        try await apply(.unsubscribe, channels)
    }

    /// Unsubscribes from `patterns`, or from every pattern when empty.
    public func punsubscribe(_ patterns: [String] = []) async throws {
        try await apply(.punsubscribe, patterns)
    }

    /// Connects and keeps reconnecting until the task is cancelled or ``close()`` is called;
    /// then finishes ``events``. Call it once.
    public func run() async {
        let mayRun = state.withLockedValue { state in
            guard !state.isRunning, !state.stopRequested else { return false }
            state.isRunning = true
            return true
        }
        guard mayRun else {
            logger.error("RedisSubscriber.run() called while running or after close(); ignoring")
            return
        }
        await withTaskCancellationHandler {
            await reconnectLoop()
        } onCancel: {
            requestStop()?.closeSoon()
        }
        if sink != nil {
            // The sink's last call (`subscriberDisconnected`) is queued on the loop: run() returns after it.
            try? await eventLoop.submit {}.get()
        }
        continuation.finish()
    }

    /// Stops the subscriber: closes the connection and ends ``run()``.
    public func close() async {
        let connection = requestStop()
        await connection?.close()
        if !state.withLockedValue({ $0.isRunning }) { continuation.finish() }
    }

    // MARK: Connection lifecycle

    private func reconnectLoop() async {
        var attempt = 0
        while !state.withLockedValue({ $0.stopRequested }) {
            let generation = state.withLockedValue { state in
                state.generation += 1
                return state.generation
            }
            var connection: RedisConnection?
            do {
                connection = try await RedisConnection.connect(
                    configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger,
                    pushRouting: pushRouting(generation: generation)
                )
                // One read per wake-up, so a pause overshoots the bound by one read at most.
                try await connection!.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
                try await activate(connection!, generation: generation)
                attempt = 0
                await monitor(connection!)
            } catch {
                logger.debug("Redis subscriber connection failed", metadata: ["error": "\(error)"])
            }
            await connection?.close()
            markDisconnected(connection)
            guard !state.withLockedValue({ $0.stopRequested }) else { break }
            let delay = options.backoff.delay(forAttempt: attempt)
            attempt += 1
            logger.debug("Reconnecting Redis subscriber", metadata: ["delay": "\(delay)"])
            await sleepUnlessStopped(for: delay)
        }
        markDisconnected(nil)
    }

    /// Publishes the connection and restores all subscriptions on it; ``RedisSubscriberEvent/connected``
    /// follows their confirmation, and messages arriving meanwhile are held back until then.
    private func activate(_ connection: RedisConnection, generation: Int) async throws {
        let snapshot = state.withLockedValue { state -> (channels: [String], patterns: [String])? in
            guard !state.stopRequested else { return nil }
            state.connection = connection
            state.holdingMessages = true
            state.buffered -= state.heldMessages.count
            state.heldMessages = []
            state.readingPaused = false  // a new connection reads; the next message may pause it
            return (state.channels.sorted(), state.patterns.sorted())
        }
        guard let snapshot else { throw CancellationError() }

        var confirmations: [EventLoopFuture<RESPValue>] = []
        if !snapshot.channels.isEmpty {
            confirmations.append(
                connection.sendPubSub(["SUBSCRIBE"] + snapshot.channels, confirmations: snapshot.channels.count)
            )
        }
        if !snapshot.patterns.isEmpty {
            confirmations.append(
                connection.sendPubSub(["PSUBSCRIBE"] + snapshot.patterns, confirmations: snapshot.patterns.count)
            )
        }
        let replies = try await EventLoopFuture.whenAllSucceed(confirmations, on: connection.channel.eventLoop).get()
        if let message = replies.lazy.compactMap(\.errorMessage).first {
            throw RedisError(message: message)
        }
        if let sink {
            try await eventLoop.submit { self.reportConnected(generation: generation, to: sink) }.get()
        } else {
            reportConnected(generation: generation)
        }
        logger.debug(
            "Redis subscriber connected",
            metadata: ["channels": "\(snapshot.channels.count)", "patterns": "\(snapshot.patterns.count)"]
        )
    }

    /// Waits until the connection closes, pinging it meanwhile; a failed ping closes it.
    private func monitor(_ connection: RedisConnection) async {
        let interval = options.healthCheckInterval
        let logger = self.logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connection.waitUntilClosed() }
            group.addTask {
                while true {
                    do { try await Task.sleep(for: interval) } catch { return }
                    // Paused on purpose: a PING's reply would wait behind the unread messages
                    // (one sent just before a pause keeps its timeout until reading resumes).
                    if self.isReadingPaused { continue }
                    do {
                        try await connection.ping()
                    } catch {
                        logger.info("Redis subscriber health check failed", metadata: ["error": "\(error)"])
                        await connection.close()
                        return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func pushRouting(generation: Int) -> RedisPushRouting {
        let state = self.state
        if let sink {
            return RedisPushRouting(recognizesRESP2PubSub: true) { [weak self] frames in
                let messages = frames.compactMap(RedisPubSubMessage.init(frame:))
                guard !messages.isEmpty, let self else { return }
                let live = state.withLockedValue { state -> Bool in
                    guard state.generation == generation else { return false }
                    guard state.holdingMessages else { return true }
                    state.heldMessages += messages
                    state.buffered += messages.count
                    return false
                }
                if live { sink.subscriber(self, received: messages) }
            }
        }
        let continuation = self.continuation
        let limit = options.maxBufferedMessages
        return RedisPushRouting(recognizesRESP2PubSub: true) { frames in
            let messages = frames.compactMap(RedisPubSubMessage.init(frame:))
            guard !messages.isEmpty else { return }
            Self.updateReading(state) { state in
                guard state.generation == generation else { return nil }
                if state.holdingMessages {
                    state.heldMessages += messages
                } else {
                    for message in messages { continuation.yield(.message(message)) }
                }
                state.buffered += messages.count
                return state.pauseIfFull(limit: limit)
            }
        }
    }

    /// The consumer took a message: reading resumes once half the bound is left.
    private func took() {
        let low = options.maxBufferedMessages / 2
        Self.updateReading(state) { state in
            state.buffered -= 1
            return state.buffered <= low && !state.consumerPaused ? state.resumeIfPaused() : nil
        }
    }

    /// A subscription change is under way: its confirmation queues behind every unread message,
    /// and the consumer may be waiting for it instead of taking messages, so the connection
    /// reads (past the bound if need be) until the confirmation is in.
    private func expectReply() {
        Self.updateReading(state) { state in
            state.awaitingReplies += 1
            return state.resumeIfPaused()
        }
    }

    /// The confirmation counted by `expectReply` arrived (or failed): the bound applies again.
    private func replyArrived() {
        let limit = options.maxBufferedMessages
        Self.updateReading(state) { state in
            state.awaitingReplies -= 1
            return state.pauseIfFull(limit: limit)
        }
    }

    /// Changes the state under its lock; when that paused or resumed reading of a connection
    /// (the closure returns it), makes the connection follow.
    private static func updateReading(
        _ state: NIOLockedValueBox<SubscriberState>,
        _ change: (inout SubscriberState) -> RedisConnection?
    ) {
        if let connection = state.withLockedValue(change) { syncReading(of: connection, with: state) }
    }

    /// Makes the connection read or not as the state now says, on its event loop (at once when
    /// called there, so a pause takes effect before the next read). Applying the latest state,
    /// rather than the value decided, keeps a late resume from undoing a newer pause.
    private static func syncReading(of connection: RedisConnection, with state: NIOLockedValueBox<SubscriberState>) {
        let channel = connection.channel
        let apply: @Sendable () -> Void = {
            let paused = state.withLockedValue { $0.readingPaused && $0.connection === connection }
            channel.setOption(ChannelOptions.autoRead, value: !paused).whenComplete { _ in }
        }
        if channel.eventLoop.inEventLoop { apply() } else { channel.eventLoop.execute(apply) }
    }

    /// `reportConnected` for a sink, on the loop (where its messages arrive, so none can come
    /// between the two calls): the connection, then what was held back for it.
    private func reportConnected(generation: Int, to sink: any RedisSubscriberSink) {
        eventLoop.preconditionInEventLoop()
        let held = state.withLockedValue { state -> [RedisPubSubMessage]? in
            guard state.generation == generation, state.holdingMessages else { return nil }
            state.isConnected = true
            state.holdingMessages = false
            state.buffered -= state.heldMessages.count  // taken by the sink below
            defer { state.heldMessages = [] }
            return state.heldMessages
        }
        guard let held else { return }
        sink.subscriberConnected(self)
        if !held.isEmpty { sink.subscriber(self, received: held) }
        let limit = options.maxBufferedMessages
        Self.updateReading(state) { $0.pauseIfFull(limit: limit) }  // a pause the sink asked for earlier
    }

    private func reportConnected(generation: Int) {
        let limit = options.maxBufferedMessages
        Self.updateReading(state) { state in
            guard state.generation == generation, state.holdingMessages else { return nil }
            state.isConnected = true
            state.holdingMessages = false
            continuation.yield(.connected)
            for message in state.heldMessages {
                continuation.yield(.message(message))
            }
            state.heldMessages = []
            return state.pauseIfFull(limit: limit)
        }
    }

    private func markDisconnected(_ connection: RedisConnection?) {
        let sink = self.sink
        let wasConnected = state.withLockedValue { state -> Bool in
            if connection == nil || state.connection === connection {
                state.connection = nil
            }
            state.buffered -= state.heldMessages.count  // never handed to the consumer
            state.readingPaused = false
            state.holdingMessages = false
            state.heldMessages = []
            guard state.isConnected else { return false }
            state.isConnected = false
            if sink == nil { continuation.yield(.disconnected) }
            return true
        }
        if wasConnected, let sink {
            // After the connection's close: every message it carried reached the sink first.
            eventLoop.execute { sink.subscriberDisconnected(self) }
        }
    }

    private func sleepUnlessStopped(for delay: Duration) async {
        let sleeper = Task { _ = try? await Task.sleep(for: delay) }
        let stopped = state.withLockedValue { state in
            state.backoffSleep = sleeper
            return state.stopRequested
        }
        if stopped { sleeper.cancel() }
        await sleeper.value
        state.withLockedValue { $0.backoffSleep = nil }
    }

    /// Marks the subscriber as stopping; returns the connection to close.
    @discardableResult
    private func requestStop() -> RedisConnection? {
        let (connection, sleeper) = state.withLockedValue { state in
            state.stopRequested = true
            return (state.connection, state.backoffSleep)
        }
        sleeper?.cancel()
        return connection
    }

    // MARK: Subscription changes

    private func apply(_ operation: SubscriptionOperation, _ names: [String]) async throws {
        let (affected, connection) = state.withLockedValue { state in
            let affected = state.apply(operation, names)
            return (affected, state.connection)
        }
        guard !affected.isEmpty, let connection else { return }
        let reply: RESPValue
        do {
            expectReply()
            defer { replyArrived() }
            reply = try await connection.sendPubSub([operation.command] + affected, confirmations: affected.count).get()
        } catch {
            // The connection is going away; the next one starts from the recorded state.
            logger.debug("Subscription change deferred to reconnect", metadata: ["error": "\(error)"])
            return
        }
        if let message = reply.errorMessage {
            if operation.adds {
                state.withLockedValue { $0.forget(operation, affected) }
            }
            throw RedisError(message: message)
        }
    }
}
