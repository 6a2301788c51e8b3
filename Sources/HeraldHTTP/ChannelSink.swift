import DequeModule
import HeraldHub
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The fast path of a stream: the hub's shard writes each event straight into the connection's
/// channel, on the channel's own event loop, with no task, lock or thread hop per event.
///
/// On HTTP/1 the response is chunked, and each event goes in as the hub's pre-framed chunk,
/// written just below the HTTP codec (above TLS): one shared buffer per event, no per-subscriber
/// framing, allocation or trip through the HTTP handlers. Elsewhere (HTTP/2) events go through
/// the pipeline as response body parts.
///
/// Until the response head is out (`run`), events wait in `pending`; so do events that arrive
/// while the socket is not writable. `pending` is bounded like the hub's queues: past the bound
/// the subscriber is dropped as too slow. Everything here runs on `eventLoop`.
final class ChannelSink: SubscriberSink, @unchecked Sendable {
    private let channel: any Channel
    /// For its bounds and shutdown notice (kept once, not copied into every idle stream).
    private let hub: Hub
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Where raw chunks are written (just below the HTTP codec), once watching an HTTP/1 channel.
    private var front: ChannelHandlerContext?
    /// Whether the response head is out, so events may go straight to the channel.
    private var attached = false
    /// Allocates only once something waits: an idle stream's memory is fixed costs like this.
    private var pending = Deque<EncodedEvent>()
    private var pendingBytes = 0
    /// Replayed history may exceed the bounds by its own size.
    private var replayAllowance = 0
    private var wroteSinceFlush = false
    /// The channel's writability as its last change said (read on every event otherwise).
    private var writable = true
    /// Raw HTTP/1 writes are chunks (false: a close-delimited HTTP/1.0 body, the bare events).
    private var chunked = true
    private var closed: StreamCloseReason?
    private var ended: EventLoopPromise<StreamCloseReason>?
    private var onEnd: (@Sendable (StreamCloseReason) -> Void)?

    init(channel: any Channel, hub: Hub) {
        self.channel = channel
        self.hub = hub
    }

    // MARK: SubscriberSink (called by the shard on `eventLoop`)

    func start(replay: [EncodedEvent]) {
        for event in replay {
            pending.append(event)
            pendingBytes += event.bytes.readableBytes
        }
        replayAllowance = pendingBytes
        drain()
    }

    func enqueue(_ event: EncodedEvent) -> Bool {
        if closed != nil { return true }
        if attached, pending.isEmpty, writable {
            send(event)
            return true
        }
        let bounds = hub.configuration
        if pendingBytes + event.bytes.readableBytes > bounds.maxQueuedBytes + replayAllowance
            || pending.count >= bounds.maxQueuedEvents
        {
            return false
        }
        pending.append(event)
        pendingBytes += event.bytes.readableBytes
        return true
    }

    func enqueueAndFlush(_ event: EncodedEvent) -> Bool {
        if closed == nil, attached, pending.isEmpty, writable, let front {
            // The usual case: one pass through the pipeline for the write and the flush.
            front.writeAndFlush(NIOAny(IOData.byteBuffer(chunked ? event.chunk : event.bytes)), promise: nil)
            wroteSinceFlush = false
            return true
        }
        guard enqueue(event) else { return false }
        flush()
        return true
    }

    func flush() {
        guard wroteSinceFlush else { return }
        wroteSinceFlush = false
        if let front { front.flush() } else { channel.flush() }
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

    /// Watches the connection from now on: `onEnd` runs (on the loop) with `.cancelled` when
    /// the client goes away, also before the response started, or with `.shutdown` when the
    /// server asks its connections to quiesce. Call once, right after subscribing.
    /// `rawHTTP1` says the connection is HTTP/1 with its codec gone (`chunked`: false for an
    /// HTTP/1.0 client's close-delimited body); otherwise the codec tells.
    func watch(rawHTTP1: Bool = false, chunked: Bool = true, onEnd: @escaping @Sendable (StreamCloseReason) -> Void) {
        eventLoop.execute {
            let pipeline = self.channel.pipeline.syncOperations
            // Through the router, Herald's codec knows whether the client speaks HTTP/1.0
            // (its answer is then close-delimited: bare events, no chunks).
            let isHTTP10 = !rawHTTP1 && ((try? pipeline.handler(type: HeraldHTTP1Codec.self))?.isHTTP10 ?? false)
            self.chunked = chunked && !isHTTP10
            guard self.channel.isActive else {
                onEnd(.cancelled)
                return
            }
            self.onEnd = onEnd
            let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self)
            let isHTTP1 = rawHTTP1 || encoder != nil
            // Raw chunks enter right at the socket side of the HTTP codec: through every handler
            // between it and the socket (TLS encrypts them) and through no HTTP handler. At the
            // very front they would skip TLS: plaintext inside the encrypted stream, which the
            // client rejects (HTTP/1.1 over TLS lost every event that way).
            let codec: (any ChannelHandler)? = encoder ?? (try? pipeline.handler(type: HeraldHTTP1Codec.self))
            try? pipeline.addHandler(
                ChannelSinkHandler(sink: self, isHTTP1: isHTTP1),
                position: codec.map { .before($0) } ?? .first
            )
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

    /// The handler at the front of an HTTP/1 pipeline was added: write raw chunks through it.
    fileprivate func frontAdded(_ context: ChannelHandlerContext) {
        front = context
    }

    fileprivate func frontRemoved() {
        front = nil
    }

    /// The socket's writability changed; once it can take more, write what waited.
    fileprivate func writabilityChanged(_ isWritable: Bool) {
        writable = isWritable
        if isWritable { drain() }
    }

    /// The client went away (`.cancelled`) or the server is shutting down (`.shutdown`).
    fileprivate func ending(_ reason: StreamCloseReason) {
        let onEnd = self.onEnd
        self.onEnd = nil
        onEnd?(reason)
    }

    private func send(_ event: EncodedEvent) {
        if let front {
            front.write(NIOAny(IOData.byteBuffer(chunked ? event.chunk : event.bytes)), promise: nil)
        } else {
            channel.write(HTTPResponsePart.body(event.bytes), promise: nil)
        }
        wroteSinceFlush = true
    }

    private func drain() {
        guard attached, closed != .tooSlow else { return }
        while let event = pending.first, writable || closed != nil {
            pending.removeFirst()
            pendingBytes -= event.bytes.readableBytes
            send(event)
        }
        if pending.isEmpty {
            replayAllowance = 0
            pending = []  // a stream that caught up goes back to holding no queue storage
        }
        flush()
    }

    /// Once closed and running: write what is owed (all of it, plus the notice, on shutdown)
    /// and complete `ended`.
    private func finishIfClosed() {
        guard let reason = closed, let ended else { return }
        self.ended = nil
        self.onEnd = nil
        if let notice = hub.finalNotice(for: reason) {
            drain()
            send(notice)
            flush()
        }
        // Later writes (the response's end) go through the HTTP handlers again.
        if let front {
            self.front = nil
            channel.pipeline.syncOperations.removeHandler(context: front, promise: nil)
        }
        ended.succeed(reason)
    }
}

/// Sits at the front of a streaming connection's pipeline: gives a `ChannelSink` on HTTP/1 its
/// place to write raw chunks, and tells it when the socket is writable again, when the client
/// leaves and when the server quiesces.
private final class ChannelSinkHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let sink: ChannelSink
    private let isHTTP1: Bool

    init(sink: ChannelSink, isHTTP1: Bool) {
        self.sink = sink
        self.isHTTP1 = isHTTP1
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if isHTTP1 { sink.frontAdded(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        sink.frontRemoved()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        sink.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { sink.ending(.cancelled) }
        if event is ChannelShouldQuiesceEvent { sink.ending(.shutdown) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.ending(.cancelled)
        context.fireChannelInactive()
    }
}
