import Logging
import NIOCore
import NIOPosix

/// One TCP connection to Redis that many tasks can use at once.
///
/// Commands are pipelined: each `send` writes immediately and replies are matched to commands
/// in the order they were sent, so concurrent callers share the socket without waiting for one
/// another. Pub/sub needs a connection of its own: use ``RedisSubscriber``.
public final class RedisConnection: Sendable {
    /// The settings this connection was opened with.
    public let configuration: RedisConfiguration
    /// The negotiated protocol: 3 after a successful `HELLO 3`, otherwise 2.
    public let protocolVersion: Int
    /// The server's version as reported by `HELLO`, when it was negotiated.
    public let serverVersion: String?

    let channel: any Channel
    private let logger: Logger

    private init(
        channel: any Channel, configuration: RedisConfiguration, handshake: RedisHandshake.Outcome, logger: Logger
    ) {
        self.channel = channel
        self.configuration = configuration
        self.protocolVersion = handshake.protocolVersion
        self.serverVersion = handshake.serverVersion
        self.logger = logger
    }

    /// Opens a connection, negotiates the protocol (`HELLO 3`, or RESP2 with `AUTH`), and
    /// selects the configured database.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.redis")
    ) async throws -> RedisConnection {
        try await connect(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, pushRouting: nil)
    }

    static func connect(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        pushRouting: RedisPushRouting?
    ) async throws -> RedisConnection {
        let limits = configuration.decoderLimits
        let commandTimeout = configuration.commandTimeout.map { TimeAmount($0) }
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(RESPFrameDecoder(limits: limits)),
                        RedisCommandHandler(commandTimeout: commandTimeout, pushRouting: pushRouting, logger: logger)
                    )
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        do {
            let outcome = try await RedisHandshake.perform(
                configuration: configuration, logger: logger,
                send: { arguments in try await Self.sendRaw(arguments, on: channel).get() }
            )
            logger.debug(
                "Connected to Redis",
                metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)", "protocol": "\(outcome.protocolVersion)"]
            )
            return RedisConnection(channel: channel, configuration: configuration, handshake: outcome, logger: logger)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Sends a command (name first, then its arguments) and returns the reply.
    ///
    /// Throws ``RedisError`` for an error reply, ``RedisConnectionError`` when the connection
    /// fails or times out, and ``RESPDecodingError`` when the server sends malformed data.
    /// Attributes around the reply are dropped. Cancelling the caller does not recall the
    /// command: it was already written.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RESPValue {
        var payload = channel.allocator.buffer(capacity: 64)
        RESPCommandEncoder.encode(arguments, into: &payload)
        return try Self.checked(await Self.sendRaw(payload, on: channel).get())
    }

    /// Sends a command whose name and arguments are raw bytes, and returns the reply.
    @discardableResult
    public func send(_ arguments: [ByteBuffer]) async throws -> RESPValue {
        var payload = channel.allocator.buffer(capacity: 64)
        RESPCommandEncoder.encode(arguments, into: &payload)
        return try Self.checked(await Self.sendRaw(payload, on: channel).get())
    }

    /// Sends a command from any thread without awaiting: the reply (error replies as failed
    /// ``RedisError``s) completes on the connection's event loop.
    func sendNow(_ arguments: [String]) -> EventLoopFuture<RESPValue> {
        Self.sendRaw(arguments, on: channel).flatMapThrowing(Self.checked)
    }

    /// The event loop the connection's replies complete on.
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Sends several commands at once, written in this order without waiting for replies
    /// (pipelining), and returns their replies in the same order: one round trip for all.
    /// Throws for the first error reply (the others still ran).
    func send(pipeline commands: [[String]]) async throws -> [RESPValue] {
        // Each write hops to the channel's event loop in submission order, so Redis runs them
        // in this order too.
        let replies = commands.map { Self.sendRaw($0, on: channel) }
        var values: [RESPValue] = []
        values.reserveCapacity(replies.count)
        for reply in replies { values.append(try Self.checked(await reply.get())) }
        return values
    }

    /// Sends `PING` and checks for `PONG`, to prove the connection is alive.
    public func ping() async throws {
        let reply = try await send(["PING"])
        // RESP2 connections in subscribed mode answer ["pong", ""] instead of +PONG.
        let word = reply.array?.first?.string ?? reply.string
        guard word?.uppercased() == "PONG" else {
            throw RedisConnectionError(.unexpectedReply, "PING answered with \(reply)")
        }
    }

    /// Whether the socket is still open.
    public var isActive: Bool { channel.isActive }

    /// Closes the connection; pending commands fail with a connection error. Closing twice is
    /// harmless.
    public func close() async {
        try? await channel.close()
    }

    /// Returns once the connection has closed, for whatever reason.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    /// Sends a pub/sub command that the server confirms with one frame per channel or pattern.
    func sendPubSub(_ arguments: [String], confirmations: Int) -> EventLoopFuture<RESPValue> {
        Self.sendRaw(RESPCommandEncoder.encode(arguments), on: channel, pubSubConfirmations: confirmations)
    }

    /// Closes without waiting, for use where awaiting is not possible.
    func closeSoon() {
        channel.close(promise: nil)
    }

    private static func sendRaw(
        _ arguments: [String], on channel: any Channel
    ) -> EventLoopFuture<RESPValue> {
        sendRaw(RESPCommandEncoder.encode(arguments), on: channel)
    }

    private static func sendRaw(
        _ payload: ByteBuffer, on channel: any Channel, pubSubConfirmations: Int = 0
    ) -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let request = RedisCommandRequest(payload: payload, promise: promise, pubSubConfirmations: pubSubConfirmations)
        channel.writeAndFlush(request).whenFailure { error in
            // Also covers writes the handler never saw (pipeline already torn down).
            promise.fail(RedisConnectionError.lost(error))
        }
        return promise.futureResult
    }

    /// Turns error replies into thrown ``RedisError``s.
    static func checked(_ reply: RESPValue) throws -> RESPValue {
        if let message = reply.errorMessage { throw RedisError(message: message) }
        return reply
    }
}
