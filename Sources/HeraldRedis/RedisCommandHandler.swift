import Logging
import NIOCore

/// Matches replies to commands in FIFO order, which is how Redis answers a pipelined stream.
///
/// Pub/sub confirmations and messages are routed separately. When the connection closes,
/// fails to decode, or a reply takes longer than the command timeout, every pending command is
/// failed and the channel is closed: after any of these, later replies could no longer be
/// matched to the right command. A reply is not late while the connection is deliberately not
/// read, nor while pub/sub messages ahead of it keep arriving.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisCommandRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<RESPValue>
        var remainingConfirmations: Int
        var deadline: NIODeadline?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private let commandTimeout: TimeAmount?
    private let pushRouting: RedisPushRouting?
    private let logger: Logger
    private var isClosed = false
    /// Pushes decoded from the current read, handed on together at its end (`flushPushes`).
    private var pushes: [RESPValue] = []
    private var timeoutCheck: Scheduled<Void>?

    init(commandTimeout: TimeAmount?, pushRouting: RedisPushRouting?, logger: Logger) {
        self.commandTimeout = commandTimeout
        self.pushRouting = pushRouting
        self.logger = logger
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard !isClosed else {
            let error = RedisConnectionError(.connectionClosed, "the connection is closed")
            request.promise.fail(error)
            promise?.fail(error)
            return
        }
        pending.append(
            Pending(
                promise: request.promise,
                remainingConfirmations: request.pubSubConfirmations,
                deadline: commandTimeout.map { .now() + $0 }
            )
        )
        scheduleTimeoutCheck(context: context)
        context.write(wrapOutboundOut(request.payload), promise: promise)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let role = classify(frame.withoutAttributes)
        // A reply completes its command only after the pushes that arrived before it.
        if role != .push { flushPushes() }
        switch role {
        case .reply:
            guard let head = pending.popFirst() else {
                fail(context: context, RedisConnectionError(.unexpectedReply, "reply without a pending command"))
                return
            }
            head.promise.succeed(frame.withoutAttributes)
        case .confirmation:
            pending[pending.startIndex].remainingConfirmations -= 1
            if pending[pending.startIndex].remainingConfirmations == 0 {
                pending.removeFirst().promise.succeed(frame.withoutAttributes)
            }
        case .push:
            // Messages still arriving prove the server alive: a reply queued behind a backlog
            // of them (a PING's on a busy subscriber) is not late while they keep coming.
            if let commandTimeout, !pending.isEmpty {
                pending[pending.startIndex].deadline = .now() + commandTimeout
            }
            if pushRouting != nil {
                pushes.append(frame.withoutAttributes)
            } else {
                logger.trace("Ignoring out-of-band push", metadata: ["frame": "\(frame)"])
            }
        }
    }

    /// The end of one read: its pushes go on in one hand-off (one wake-up of the consumer per
    /// read, not per message).
    func channelReadComplete(context: ChannelHandlerContext) {
        flushPushes()
        context.fireChannelReadComplete()
    }

    private func flushPushes() {
        guard !pushes.isEmpty, let pushRouting else { return }
        let batch = pushes
        pushes = []  // the batch keeps the storage
        pushRouting.deliver(batch)
    }

    func channelInactive(context: ChannelHandlerContext) {
        flushPushes()
        failAll(RedisConnectionError(.connectionClosed, "the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("Closing Redis connection after error", metadata: ["error": "\(error)"])
        fail(context: context, RedisConnectionError.lost(error))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisConnectionError(.connectionClosed, "the connection handler was removed"))
    }

    // MARK: Routing

    private enum FrameRole {
        case reply, confirmation, push
    }

    private static let confirmationKinds: Set<String> = [
        "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    ]
    private static let messageKinds: Set<String> = ["message", "pmessage", "smessage"]

    private func classify(_ frame: RESPValue) -> FrameRole {
        let elements: [RESPValue]
        switch frame {
        case .push(let items):
            elements = items
        case .array(let items?) where pushRouting?.recognizesRESP2PubSub == true:
            elements = items
        default:
            return .reply
        }
        let kind = elements.first?.string?.lowercased() ?? ""
        if Self.confirmationKinds.contains(kind), let head = pending.first, head.remainingConfirmations > 0 {
            return .confirmation
        }
        if case .push = frame { return .push }
        // A RESP2 array on a subscriber connection: messages are pushes, anything else
        // (["pong", ""] in subscribed mode) answers the oldest command.
        if Self.messageKinds.contains(kind) || Self.confirmationKinds.contains(kind) { return .push }
        return .reply
    }

    // MARK: Failure and timeouts

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        flushPushes()  // decoded before the failure: valid messages
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        isClosed = true
        timeoutCheck?.cancel()
        timeoutCheck = nil
        while let head = pending.popFirst() {
            head.promise.fail(error)
        }
    }

    /// Keeps one timer, aimed at the oldest command's deadline: with one timeout for all
    /// commands and FIFO replies, the oldest command is always the first to expire. While the
    /// connection is deliberately not read (`autoRead` off: a pub/sub consumer is behind), no
    /// reply can arrive, so none is late: the oldest gets a full timeout again.
    private func scheduleTimeoutCheck(context: ChannelHandlerContext) {
        guard timeoutCheck == nil, !isClosed, let deadline = pending.first?.deadline else { return }
        timeoutCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timeoutCheck = nil
            guard let head = pending.first, let headDeadline = head.deadline else { return }
            if let commandTimeout, context.channel.syncOptions.map({ try? $0.getOption(.autoRead) }) == false {
                pending[pending.startIndex].deadline = .now() + commandTimeout
                scheduleTimeoutCheck(context: context)
            } else if headDeadline <= .now() {
                fail(context: context, RedisConnectionError(.timedOut, "no reply within \(commandTimeout ?? .zero)"))
            } else {
                scheduleTimeoutCheck(context: context)
            }
        }
    }
}
