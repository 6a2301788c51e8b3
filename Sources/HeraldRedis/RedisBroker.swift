import HeraldHub
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A broker that makes many Herald nodes act as one hub. Each publish runs one Lua script that
/// appends the update to a capped Redis stream (its id becomes the update's position, and its id
/// when the publisher gave none) and publishes it on one shared channel, atomically, so every
/// node sees updates in stream order. Nodes deliver what arrives on the channel; after a lost
/// connection they catch up from the stream, skipping what they already delivered.
///
/// Presence (subscription events) takes another way: each batch of them is pipelined as a few
/// `PUBLISH`es on `<prefix>:presence`, never appended to the stream (see `announce(_:)`), and
/// the shared subscription registry is written once per batch (`updateRegistry`).
public final class RedisBroker: Broker {
    /// The broker's configuration.
    public let configuration: RedisBrokerConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let intake = BrokerIntakeSlot()
    private let commands: RedisCommandLink
    private let liveSubscriber = NIOLockedValueBox<RedisSubscriber?>(nil)
    private let progress = NIOLockedValueBox(Progress())
    /// Each Lua script's SHA1 (by script name) as Redis reported it (`SCRIPT LOAD`), for `EVALSHA`.
    private let scriptHashes = NIOLockedValueBox<[String: String]>([:])

    private struct Progress {
        /// Position of the newest update delivered to the hub.
        var lastDelivered: UpdatePosition?
        /// The stream's tail when the first subscription was confirmed: catch-up starts there.
        var baseline: UpdatePosition?
        var everConnected = false
        var isConnected = false
        var caughtUp = 0
    }

    /// Appends to the stream and publishes in one atomic step (once per publisher id); returns
    /// the stream id. See `RedisScripts.publish`.
    static let publishScript = RedisScripts.publish

    /// Creates a broker; it connects when the hub runs it (and on first publish).
    public init(
        configuration: RedisBrokerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.redis.broker")
    ) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        var redis = configuration.redis
        redis.commandTimeout = configuration.commandTimeout
        redis.connectTimeout = min(redis.connectTimeout, configuration.commandTimeout)
        self.commands = RedisCommandLink(configuration: redis, group: eventLoopGroup, logger: logger)
    }

    public func attach(_ intake: BrokerIntake) {
        self.intake.attach(intake)
    }

    /// Waits while the hub's fan-out is behind (catch-up pauses between updates; the live path
    /// checks `BrokerIntake.isFanOutBehind` instead, see `RedisLiveIntake`).
    private func waitForHub() async {
        await intake.waitForFanOut()
    }

    /// This node's random id, naming its part of the shared subscription registry.
    public let nodeID = InMemoryBroker.newID()

    /// Whether the pub/sub connection is up (live updates are flowing).
    public var isConnected: Bool { progress.withLockedValue { $0.isConnected } }

    /// Whether the pub/sub connection is left unread because the hub's fan-out is behind (Redis
    /// holds what is published meanwhile, or drops the connection, and the stream fills the gap).
    package var isLiveIntakePaused: Bool { liveSubscriber.withLockedValue { $0?.isReadingPaused ?? false } }

    /// Updates delivered from the stream after reconnects (missed on pub/sub), since start.
    package var caughtUpCount: Int { progress.withLockedValue { $0.caughtUp } }

    // MARK: publishing and history

    public func publish(_ update: Update) async throws -> String {
        let reply = try await evaluate(
            "publish", Self.publishScript,
            keys: publishKeys,
            arguments: publishArguments(update)
        )
        return try publishedID(reply, update)
    }

    /// The publish script's keys, and its arguments for `update`.
    private var publishKeys: [String] {
        [configuration.streamKey, configuration.channel, configuration.idIndexKey, configuration.idOrderKey]
    }

    private func publishArguments(_ update: Update) -> [String] {
        [String(configuration.historySize), RedisUpdateCodec.encode(update), update.id ?? ""]
    }

    /// The id to answer for `update` from the publish script's reply (a retried publisher id
    /// is counted and answered with that id).
    private func publishedID(_ reply: RESPValue, _ update: Update) throws -> String {
        guard let streamID = reply.string else { throw HubError.brokerUnavailable("unexpected reply from Redis") }
        if streamID.hasPrefix(RedisScripts.retryPrefix) {
            intake.countDuplicatePublish()
            return update.id ?? String(streamID.dropFirst(RedisScripts.retryPrefix.count))
        }
        return update.id ?? streamID
    }

    /// The publish script by its hash on the open command connection, answered on that
    /// connection's loop; nil (use `publish(_:)`) until a connection is open and the script
    /// loaded. A Redis that forgot the script (NOSCRIPT) gets it once more in full (`EVAL`,
    /// which also caches it), and the next `publish(_:)` learns its hash again.
    public func publishOnLoop(_ update: Update) -> EventLoopFuture<String>? {
        guard let connection = commands.openConnection,
            let sha = scriptHashes.withLockedValue({ $0["publish"] })
        else { return nil }
        let arguments = publishArguments(update)
        let keys = publishKeys
        let tail = [String(keys.count)] + keys + arguments
        return connection.sendNow(["EVALSHA", sha] + tail)
            .flatMapError { error in
                guard let refusal = error as? RedisError, refusal.code == "NOSCRIPT" else {
                    return connection.eventLoop.makeFailedFuture(error)
                }
                self.scriptHashes.withLockedValue { $0["publish"] = nil }
                return connection.sendNow(["EVAL", Self.publishScript] + tail)
            }
            .flatMapErrorThrowing { error in throw self.brokerError(error, on: connection) }
            .flatMapThrowing { reply in try self.publishedID(reply, update) }
    }

    public func updates(after id: String, limit: Int) async throws -> BrokerHistory? {
        let key = configuration.streamKey
        if id == Update.earliestID {
            let entries = try await command(["XRANGE", key, "-", "+", "COUNT", String(limit)])
            return BrokerHistory(after: nil, updates: (entries.array ?? []).compactMap(RedisUpdateCodec.decode(entry:)))
        }
        // One bounded step: an index lookup and one range read (never a scan of the stream).
        let reply = try await evaluate(
            "replay", RedisScripts.replay,
            keys: [key, configuration.idIndexKey],
            arguments: [id, UpdatePosition(id)?.description ?? "", String(max(limit, 1))]
        )
        return RedisScripts.history(fromReplay: reply, askedID: id)
    }

    /// Runs one of Herald's Lua scripts by its SHA1 (`EVALSHA`: 40 bytes on the wire instead
    /// of the script's few KiB, and no hashing by Redis per call). The SHA1 comes from Redis
    /// itself (`SCRIPT LOAD`, once per script); a Redis that no longer knows it (restarted
    /// without persistence, `SCRIPT FLUSH`) answers NOSCRIPT, and the script is loaded again.
    /// `name` keys the hash cache (hashing the script's text per call would cost what EVALSHA saves).
    private func evaluate(_ name: String, _ script: String, keys: [String], arguments: [String]) async throws -> RESPValue {
        let tail = [String(keys.count)] + keys + arguments
        if let sha = scriptHashes.withLockedValue({ $0[name] }) {
            do {
                return try await command(["EVALSHA", sha] + tail, passing: "NOSCRIPT")
            } catch is RedisError {
                // NOSCRIPT (the only error reply let through): Redis forgot the script; load it again below.
            }
        }
        let loaded = try await command(["SCRIPT", "LOAD", script])
        guard let sha = loaded.string, sha.utf8.count == 40 else {
            throw HubError.brokerUnavailable("unexpected reply from Redis to SCRIPT LOAD")
        }
        scriptHashes.withLockedValue { $0[name] = sha }
        return try await command(["EVALSHA", sha] + tail)
    }

    /// Sends one command on the shared command connection, connecting first when needed.
    /// Connection trouble becomes `HubError.brokerUnavailable` (HTTP 503).
    /// An error reply whose code is `passing` is rethrown as the `RedisError` itself.
    private func command(_ arguments: [String], passing: String? = nil) async throws -> RESPValue {
        try await onConnection(passing: passing) { try await $0.send(arguments) }
    }

    /// Sends `list` in one round trip (pipelined, run in order); errors as `command(_:)`.
    private func pipeline(_ list: [[String]]) async throws {
        if list.isEmpty { return }
        _ = try await onConnection { try await $0.send(pipeline: list) }
    }

    private func onConnection<Reply>(
        passing: String? = nil,
        _ body: (RedisConnection) async throws -> Reply
    ) async throws -> Reply {
        let connection: RedisConnection
        do {
            connection = try await commands.connection()
        } catch {
            throw HubError.brokerUnavailable("cannot reach Redis at \(configuration.redis.host):\(configuration.redis.port)")
        }
        do {
            return try await body(connection)
        } catch let error as RedisError {
            if let passing, error.code == passing { throw error }
            throw brokerError(error, on: connection)
        } catch {
            throw brokerError(error, on: connection)
        }
    }

    /// What a failed command means to the hub (503 either way): Redis refused it, or the
    /// connection failed (it is then dropped, so the next command opens a fresh one).
    private func brokerError(_ error: any Error, on connection: RedisConnection) -> HubError {
        if let hubError = error as? HubError { return hubError }
        if let refusal = error as? RedisError { return .brokerUnavailable("Redis refused: \(refusal.message)") }
        commands.discardSoon(connection)
        return .brokerUnavailable("lost the connection to Redis")
    }

    // MARK: shared subscription registry

    /// The hash holding this node's subscriptions; it expires unless refreshed, so a node that
    /// dies without cleaning up drops out of the list on its own.
    var registryKey: String { configuration.keyPrefix + ":subscriptions:" + nodeID }
    /// Where `replaceRegistry` builds the new hash before renaming it over `registryKey`
    /// (outside the `:subscriptions:*` pattern that `activeSubscriptions()` lists).
    var registryDraftKey: String { configuration.keyPrefix + ":registry-draft:" + nodeID }
    static let registryTTL = 30

    public func register(_ subscription: ActiveSubscription) async throws {
        try await updateRegistry(added: [subscription], removed: [])
    }

    public func unregister(_ subscriptionID: String) async throws {
        try await updateRegistry(added: [], removed: [subscriptionID])
    }

    /// Registry writes in flight, and whether the node is stopping: then it writes no more, so
    /// that nothing recreates its hash after the final `DEL`.
    private struct RegistryWrites {
        var stopping = false
        var inFlight = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let registryWrites = NIOLockedValueBox(RegistryWrites())

    /// Counts a registry write in; false (write nothing) once the node is stopping.
    private func beginRegistryWrite() -> Bool {
        registryWrites.withLockedValue { writes in
            if writes.stopping { return false }
            writes.inFlight += 1
            return true
        }
    }

    private func endRegistryWrite() {
        let drained = registryWrites.withLockedValue { writes -> [CheckedContinuation<Void, Never>] in
            writes.inFlight -= 1
            guard writes.inFlight == 0 else { return [] }
            defer { writes.drained = [] }
            return writes.drained
        }
        for waiter in drained { waiter.resume() }
    }

    /// Stops registry writes; returns once none is in flight.
    private func stopRegistryWrites() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = registryWrites.withLockedValue { writes -> Bool in
                writes.stopping = true
                if writes.inFlight == 0 { return true }
                writes.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// The node's last words to Redis, within `configuration.shutdownTimeout`: once the
    /// registry writes in flight are done, `DEL` its registry hash (so other nodes stop listing
    /// its subscribers at once, not when the hash expires), then close the command connection.
    /// Redis answers in order, so an answered `DEL` means every publish sent before it was
    /// answered too; when the time is up instead, closing the connection fails whatever is
    /// still pending, and those publishes are answered 503 (a publisher retrying with its `id`
    /// gets it stored once, see `RedisScripts.publish`).
    ///
    /// It runs when the hub cancels `run()`, so nothing here may depend on task cancellation:
    /// the deadline is an event-loop timer, and a flag tells the `DEL` it came too late.
    private func closeCommands() async {
        let timeIsUp = NIOLockedValueBox(false)
        let deadline = group.next().scheduleTask(in: TimeAmount(configuration.shutdownTimeout)) {}
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                await self.stopRegistryWrites()
                if timeIsUp.withLockedValue({ $0 }) { return }
                _ = try? await self.command(["DEL", self.registryKey])
            }
            tasks.addTask { try? await deadline.futureResult.get() }
            await tasks.next()
            timeIsUp.withLockedValue { $0 = true }
            deadline.cancel()
            await commands.close()
        }
    }

    /// Most subscriptions written by one registry command (bounds a command's size).
    static let registryBatch = 256

    /// Records a batch in one round trip: one HSET and one EXPIRE, and one HDEL, per
    /// `registryBatch` subscriptions. Churn of N subscribers costs O(N / 256 + batches)
    /// commands, whatever their selectors.
    public func updateRegistry(added: [ActiveSubscription], removed: [String]) async throws {
        guard beginRegistryWrite() else { return }
        defer { endRegistryWrite() }
        var list = try Self.hashWrites(of: added, into: registryKey)
        if !added.isEmpty { list.append(["EXPIRE", registryKey, String(Self.registryTTL)]) }
        for start in stride(from: 0, to: removed.count, by: Self.registryBatch) {
            list.append(["HDEL", registryKey] + removed[start..<min(start + Self.registryBatch, removed.count)])
        }
        try await pipeline(list)
    }

    /// Rewrites this node's registry hash from `subscriptions`, in one round trip: the new
    /// hash is built under another key and renamed over the old one, so other nodes never see
    /// it half written (with none, the hash is deleted).
    public func replaceRegistry(with subscriptions: [ActiveSubscription]) async throws {
        guard beginRegistryWrite() else { return }
        defer { endRegistryWrite() }
        if subscriptions.isEmpty {
            try await pipeline([["DEL", registryKey]])
            return
        }
        var list = [["DEL", registryDraftKey]]
        list += try Self.hashWrites(of: subscriptions, into: registryDraftKey)
        list.append(["EXPIRE", registryDraftKey, String(Self.registryTTL)])
        list.append(["RENAME", registryDraftKey, registryKey])
        try await pipeline(list)
    }

    /// HSETs of `subscriptions` into `key`, `registryBatch` at a time.
    private static func hashWrites(of subscriptions: [ActiveSubscription], into key: String) throws -> [[String]] {
        let encoder = JSONEncoder()
        var list: [[String]] = []
        for start in stride(from: 0, to: subscriptions.count, by: registryBatch) {
            var arguments = ["HSET", key]
            for subscription in subscriptions[start..<min(start + registryBatch, subscriptions.count)] {
                arguments.append(subscription.id)
                arguments.append(String(decoding: try encoder.encode(subscription), as: UTF8.self))
            }
            list.append(arguments)
        }
        return list
    }

    /// Sends a batch of presence updates to every node: `PUBLISH` on `<prefix>:presence`, up to
    /// 64 KiB of them per message, all in one round trip. Never `XADD`ed: presence is live-only
    /// (no id, never replayed, as in the hub's own history), and in the capped stream it would
    /// crowd real updates out and cost a Lua script each. What a node misses while its pub/sub
    /// connection is down is not caught up; the subscriptions API (the shared registry) has
    /// the state.
    public func announce(_ updates: [Update]) async throws {
        let payloads = RedisUpdateCodec.encode(presence: updates)
        try await pipeline(payloads.map { ["PUBLISH", configuration.presenceChannel, $0] })
    }

    public func activeSubscriptions() async throws -> [ActiveSubscription]? {
        var cursor = "0"
        var subscriptions: [ActiveSubscription] = []
        repeat {
            let reply = try await command([
                "SCAN", cursor, "MATCH", configuration.keyPrefix + ":subscriptions:*", "COUNT", "100",
            ])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { break }
            cursor = next
            for key in parts[1].array ?? [] {
                guard let key = key.string else { continue }
                for value in try await command(["HVALS", key]).array ?? [] {
                    guard let bytes = value.buffer,
                        let subscription = try? JSONDecoder().decode(ActiveSubscription.self, from: Data(bytes.readableBytesView))
                    else { continue }
                    subscriptions.append(subscription)
                }
            }
        } while cursor != "0"
        return subscriptions
    }

    /// Keeps this node's registry alive while it runs; removes it when the node stops.
    private func refreshRegistry() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(Self.registryTTL / 3))
            if Task.isCancelled { break }
            // 0: the hash is gone (expired while Redis was unreachable, or lost with Redis):
            // the hub rewrites it if it has subscriptions.
            if let reply = try? await command(["EXPIRE", registryKey, String(Self.registryTTL)]), reply.int == 0 {
                intake.registryLost()
            }
        }
    }

    // MARK: live delivery

    /// Keeps the pub/sub subscription up and feeds the hub until cancelled. Live messages go
    /// from the subscriber's event loop into the hub (`RedisLiveIntake`); this task runs what
    /// must wait for Redis after each connection comes up: the baseline, or the catch-up.
    public func run() async throws {
        let loop = group.next()
        let (connections, connected) = AsyncStream.makeStream(of: Void.self)
        let live = RedisLiveIntake(
            broker: self, loop: loop, bound: configuration.subscriberOptions.maxBufferedMessages, connections: connected
        )
        let subscriber = RedisSubscriber(
            configuration: configuration.redis,
            options: configuration.subscriberOptions,
            eventLoopGroup: loop,
            logger: logger,
            sink: live
        )
        try await subscriber.subscribe([configuration.channel, configuration.presenceChannel])
        liveSubscriber.withLockedValue { $0 = subscriber }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await subscriber.run() }
            tasks.addTask { await self.refreshRegistry() }
            tasks.addTask {
                for await _ in connections {
                    await self.connectionUp()
                    live.caughtUp(subscriber)
                }
            }
            await withTaskCancellationHandler {
                await tasks.next()
            } onCancel: {
                Task { await subscriber.close() }
            }
            await subscriber.close()
            live.stop()
            connected.finish()
            tasks.cancelAll()
        }
        await closeCommands()
    }

    /// The hub's intake, for one batch of live messages.
    var attachedIntake: BrokerIntake? { intake.current }

    /// Hands one live pub/sub message to the hub (on the subscriber's event loop): an update
    /// unless its position was delivered already, or presence updates.
    func deliverLive(_ message: RedisPubSubMessage, to intake: BrokerIntake) {
        if message.channel == configuration.presenceChannel {
            guard let updates = RedisUpdateCodec.decode(presence: message.payload) else {
                logger.error("ignoring a malformed presence message")
                return
            }
            // Live only: no position, so they never move `lastDelivered`.
            for update in updates where update.isSubscriptionEvent { intake.deliver(update) }
            return
        }
        guard let update = RedisUpdateCodec.decode(message: message.payload) else {
            logger.error("ignoring a malformed message on \(message.channel)")
            return
        }
        deliverIfNew(update, to: intake)
    }

    /// The pub/sub connection came up (its subscriptions confirmed) or went down.
    func liveConnectionChanged(up: Bool) {
        progress.withLockedValue { $0.isConnected = up }
        if !up { logger.warning("Redis pub/sub connection lost; reconnecting") }
    }

    /// What follows a connection coming up, before its live messages: the first time, the
    /// stream's tail as the baseline; after a reconnect, the catch-up.
    private func connectionUp() async {
        let first = progress.withLockedValue { progress in
            defer { progress.everConnected = true }
            return !progress.everConnected
        }
        if first {
            await recordBaseline()
        } else {
            logger.info("Redis connection back; catching up from the stream")
            // Redis may have restarted without persistence, losing this node's registry.
            intake.registryLost()
            await catchUp()
        }
    }

    /// Hands `update` to the hub unless its position is not past the newest delivered.
    @discardableResult
    private func deliverIfNew(_ update: Update, to intake: BrokerIntake?) -> Bool {
        let isNew = progress.withLockedValue { progress -> Bool in
            guard let position = update.position else { return true }
            if let last = progress.lastDelivered, position <= last { return false }
            progress.lastDelivered = position
            return true
        }
        if isNew { intake?.deliver(update) }
        return isNew
    }

    /// Notes the stream's tail when first connected: a later catch-up starts there at the earliest.
    /// The read is retried until it succeeds: without a baseline a later catch-up would
    /// replay the whole stream, updates from before this node started included.
    private func recordBaseline() async {
        guard let tail = await readStream(["XREVRANGE", configuration.streamKey, "+", "-", "COUNT", "1"]),
            let entry = tail.array?.first, let update = RedisUpdateCodec.decode(entry: entry)
        else { return }
        progress.withLockedValue { $0.baseline = update.position }
    }

    /// Delivers what was published while the pub/sub connection was down, from the stream, up
    /// to its tail. A failed read is retried (with back-off) from where it stopped, never
    /// skipped: live messages wait behind the catch-up (`RedisLiveIntake` holds them until
    /// `caughtUp(_:)`), so `lastDelivered` never moves past an update this node did not deliver.
    private func catchUp() async {
        var start = progress.withLockedValue { progress in
            [progress.lastDelivered, progress.baseline].compactMap { $0 }.max()
        }
        var caughtUp = 0
        while true {
            let from = start.map { "(" + $0.description } ?? "-"
            guard let page = await readStream(["XRANGE", configuration.streamKey, from, "+", "COUNT", "500"]),
                let entries = page.array, !entries.isEmpty
            else { break }
            for entry in entries {
                guard let update = RedisUpdateCodec.decode(entry: entry) else { continue }
                await waitForHub()
                if deliverIfNew(update, to: intake.current) { caughtUp += 1 }
                start = update.position
            }
        }
        if caughtUp > 0 {
            progress.withLockedValue { $0.caughtUp += caughtUp }
            logger.info("caught up \(caughtUp) updates from the Redis stream")
        }
    }

    /// One read of the stream for `recordBaseline`/`catchUp`, retried until it succeeds: each
    /// failure is logged and counted (`HubStatistics.brokerCatchUpRetries`), and the next try
    /// waits per `subscriberOptions.backoff`. Nil only when the task is cancelled (shutdown).
    private func readStream(_ arguments: [String]) async -> RESPValue? {
        var attempt = 0
        while !Task.isCancelled {
            do {
                return try await command(arguments)
            } catch {
                let delay = configuration.subscriberOptions.backoff.delay(forAttempt: attempt)
                attempt += 1
                intake.countCatchUpRetry()
                logger.warning(
                    "reading the Redis stream failed; retrying, and delivering nothing newer meanwhile",
                    metadata: ["command": "\(arguments[0])", "attempt": "\(attempt)", "retryIn": "\(delay)",
                        "error": "\(error)"]
                )
                try? await Task.sleep(for: delay)
            }
        }
        return nil
    }
}
