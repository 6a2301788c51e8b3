import HeraldHub
import NIOCore
import NIOHTTPTypes

/// The fast path of a stream: the hub's shard writes each event straight into the connection's
/// channel, on the channel's own event loop, with no task, lock or thread hop per event.
///
/// Until the response head is out (`attach`), events wait in `pending`; so do events that
/// arrive while the socket is not writable. `pending` is bounded like the hub's queues: past
/// the bound the subscriber is dropped as too slow. Everything here runs on `eventLoop`.
final class ChannelSink: SubscriberSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    private let channel: any Channel
    private let maxBytes: Int
    private let maxEvents: Int
    private let shutdownNotice: ByteBuffer

    /// Whether the response head is out, so events may go straight to the channel.
    private var attached = false
    private var pending = CircularBuffer<ByteBuffer>()
    private var pendingBytes = 0
    /// Replayed history may exceed the bounds by its own size.
    private var replayAllowance = 0
    private var wroteSinceFlush = false
    private var closed: StreamCloseReason?
    private var ended: EventLoopPromise<StreamCloseReason>?
    private var onDisconnect: (@Sendable () -> Void)?

    init(channel: any Channel, maxBytes: Int, maxEvents: Int, shutdownNotice: ByteBuffer) {
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.maxBytes = maxBytes
        self.maxEvents = maxEvents
        self.shutdownNotice = shutdownNotice
    }

    // MARK: SubscriberSink (called by the shard on `eventLoop`)

    func start(replay: [ByteBuffer]) {
        for buffer in replay {
            pending.append(buffer)
            pendingBytes += buffer.readableBytes
        }
        replayAllowance = pendingBytes
        drain()
    }

    func enqueue(_ buffer: ByteBuffer) -> Bool {
        if closed != nil { return true }
        if attached, pending.isEmpty, channel.isWritable {
            channel.write(HTTPResponsePart.body(buffer), promise: nil)
            wroteSinceFlush = true
            return true
        }
        if pendingBytes + buffer.readableBytes > maxBytes + replayAllowance || pending.count >= maxEvents {
            return false
        }
        pending.append(buffer)
        pendingBytes += buffer.readableBytes
        return true
    }

    func flush() {
        guard wroteSinceFlush else { return }
        wroteSinceFlush = false
        channel.flush()
    }

    func close(_ reason: StreamCloseReason) {
        guard closed == nil else { return }
        closed = reason
        if reason == .tooSlow {
            pending.removeAll()
            pendingBytes = 0
        }
        finishIfClosed()
    }

    // MARK: the response's side

    /// Watches the connection from now on: `onDisconnect` runs (on the loop) when the client
    /// goes away, also before the response started. Call once, right after subscribing.
    func watch(onDisconnect: @escaping @Sendable () -> Void) {
        eventLoop.execute {
            guard self.channel.isActive else {
                onDisconnect()
                return
            }
            self.onDisconnect = onDisconnect
            try? self.channel.pipeline.syncOperations.addHandler(ChannelSinkHandler(sink: self), position: .first)
        }
    }

    /// Starts writing to the channel (call once its response head is written: the head's write
    /// was queued on the loop before this) and returns when the stream ends.
    func run() -> EventLoopFuture<StreamCloseReason> {
        let promise = eventLoop.makePromise(of: StreamCloseReason.self)
        eventLoop.execute {
            self.ended = promise
            self.attached = true
            self.drain()
            self.finishIfClosed()
        }
        return promise.futureResult
    }

    /// The socket can take more: write what waited.
    func writable() {
        drain()
    }

    /// The client went away.
    func disconnected() {
        let onDisconnect = self.onDisconnect
        self.onDisconnect = nil
        onDisconnect?()
    }

    private func drain() {
        guard attached, closed != .tooSlow else { return }
        while let buffer = pending.first, channel.isWritable || closed != nil {
            pending.removeFirst()
            pendingBytes -= buffer.readableBytes
            channel.write(HTTPResponsePart.body(buffer), promise: nil)
            wroteSinceFlush = true
        }
        if pending.isEmpty { replayAllowance = 0 }
        flush()
    }

    /// Once closed and running: write what is owed (all of it, plus the notice, on shutdown)
    /// and complete `ended`.
    private func finishIfClosed() {
        guard let reason = closed, let ended else { return }
        self.ended = nil
        self.onDisconnect = nil
        if reason == .shutdown {
            drain()
            channel.write(HTTPResponsePart.body(shutdownNotice), promise: nil)
        }
        channel.flush()
        let channel = self.channel
        channel.pipeline.context(handlerType: ChannelSinkHandler.self).whenSuccess { context in
            channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        ended.succeed(reason)
    }
}

/// Tells a `ChannelSink` when its socket becomes writable again and when its client leaves.
private final class ChannelSinkHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let sink: ChannelSink

    init(sink: ChannelSink) {
        self.sink = sink
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { sink.writable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { sink.disconnected() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.disconnected()
        context.fireChannelInactive()
    }
}
