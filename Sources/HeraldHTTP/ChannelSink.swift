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
///
/// The sink is also the handler it puts at the front of the stream's pipeline (`watch`): it
/// learns there where to write raw chunks, when the socket is writable again, when the client
/// leaves and when the server quiesces. One object, not two: an idle stream's memory is a
/// handful of fixed allocations like this one.
final class ChannelSink: SubscriberSink, ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny

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
    /// The connection is HTTP/1: raw chunks are written through this handler's context.
    private var isHTTP1 = false
    private var closed: StreamCloseReason?
    /// Through the router: the response's body waits on this, and `onEnd` cancels the
    /// subscription when the client leaves.
    private var ended: EventLoopPromise<StreamCloseReason>?
    private var onEnd: (@Sendable (StreamCloseReason) -> Void)?
    /// On the event-loop path (`streamRaw`): the stream's subscription and endpoint, kept here
    /// rather than in closures and a promise (an idle stream holds none of those).
    private var raw: (subscription: Subscription, endpoint: HeraldEndpoint)?

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
    /// server asks its connections to quiesce. Call once, right after subscribing, for a stream
    /// answered through the router; then `run()` once the response head is written.
    func watch(onEnd: @escaping @Sendable (StreamCloseReason) -> Void) {
        eventLoop.execute {
            let pipeline = self.channel.pipeline.syncOperations
            // Herald's codec knows whether the client speaks HTTP/1.0 (its answer is then
            // close-delimited: bare events, no chunks).
            self.chunked = !((try? pipeline.handler(type: HeraldHTTP1Codec.self))?.isHTTP10 ?? false)
            guard self.channel.isActive else {
                onEnd(.cancelled)
                return
            }
            self.onEnd = onEnd
            let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self)
            self.isHTTP1 = encoder != nil
            // Raw chunks enter right at the socket side of the HTTP codec: through every handler
            // between it and the socket (TLS encrypts them) and through no HTTP handler. At the
            // very front they would skip TLS: plaintext inside the encrypted stream, which the
            // client rejects (HTTP/1.1 over TLS lost every event that way).
            let codec: (any ChannelHandler)? = encoder ?? (try? pipeline.handler(type: HeraldHTTP1Codec.self))
            try? pipeline.addHandler(self, position: codec.map { .before($0) } ?? .first)
        }
    }

    /// The event-loop path's stream (`HubChannelHandler`), its response head written. On HTTP/1
    /// the HTTP handlers are gone, so events go in as raw chunks (`chunked`; false for an
    /// HTTP/1.0 client's close-delimited body) from the end of what is left of the pipeline:
    /// its front without TLS, right behind TLS with it (HTTP/1.1 over TLS); in an HTTP/2 stream
    /// channel they go through its codec as body parts. Watches the connection (the stream),
    /// writes until the stream ends, then ends it (`HubChannelHandler.streamEnded`).
    func streamRaw(
        _ subscription: Subscription,
        endpoint: HeraldEndpoint,
        framing: HubChannelHandler.Framing,
        chunked: Bool
    ) {
        eventLoop.execute {
            self.chunked = chunked
            self.isHTTP1 = framing == .http1
            self.raw = (subscription, endpoint)
            if self.channel.isActive {
                // HTTP/1: behind TLS when there is TLS (the HTTP handlers are gone: the end of
                // the pipeline is right behind it, or its front without TLS); raw chunks are
                // written through this handler's context.
                try? self.channel.pipeline.syncOperations.addHandler(self, position: framing == .http1 ? .last : .first)
            } else {
                subscription.cancel(reason: .cancelled)
            }
            self.attached = true
            self.drain()
            self.finishIfClosed()
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

    // MARK: the handler at the front of the stream's pipeline

    func handlerAdded(context: ChannelHandlerContext) {
        // On HTTP/1, raw chunks are written through this context.
        if isHTTP1 { front = context }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        front = nil
    }

    /// The socket's writability changed; once it can take more, write what waited.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { ending(.cancelled) }
        if event is ChannelShouldQuiesceEvent { ending(.shutdown) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        ending(.cancelled)
        context.fireChannelInactive()
    }

    /// The client went away (`.cancelled`) or the server is shutting down (`.shutdown`).
    private func ending(_ reason: StreamCloseReason) {
        if let raw {
            raw.subscription.cancel(reason: reason)
            return
        }
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
    /// and complete `ended` (or end the event-loop path's connection).
    private func finishIfClosed() {
        guard let reason = closed, attached, ended != nil || raw != nil else { return }
        let (ended, raw) = (self.ended, self.raw)
        self.ended = nil
        self.raw = nil
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
        ended?.succeed(reason)
        if let raw {
            HubChannelHandler.streamEnded(
                raw.subscription,
                reason: reason,
                endpoint: raw.endpoint,
                channel: channel,
                framing: isHTTP1 ? .http1 : .http2,
                chunked: chunked
            )
        }
    }
}
