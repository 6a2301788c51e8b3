import NIOCore

/// The timeouts of a `.herald` connection, HTTP/1 or HTTP/2: closes it when a request's head or
/// body takes too long, when it sits idle for too long, and at the end of the grace period once
/// the server shuts down. One set of rules for every kind of connection (`Scope`):
///
/// - HTTP/1 (`.http1`): the first handler of the connection. The other handlers tell it where
///   the connection stands (`headReceived`, `requestReceived`, `responseSent`, `streamOpened`);
///   it notices a new request's first bytes itself.
/// - HTTP/2 (`.http2Connection`): the first handler of the TLS connection, so the TLS handshake,
///   ALPN, the client's preface and its first request's HEADERS are the connection's first head,
///   due within `headTimeout` of its start. Then the connection is busy while any of its
///   streams is open (`streamCreated`, `streamClosed`: an open event stream keeps it for good)
///   and idle when none is; idle past `idleTimeout`, it is closed. (Frames between requests,
///   PING, SETTINGS or WINDOW_UPDATE, are not requests: they neither start a head nor end the
///   idle time. A HEADERS frame left unfinished on a connection that already served a stream
///   is therefore cut off by the idle timeout, not the head timeout; NIO bounds its size.)
/// - An HTTP/2 stream (`.http2Stream`): in each stream channel, for its one request, whose head
///   is complete when the stream exists: its body is due within `bodyTimeout`, and past it the
///   stream (not the connection) is reset. The connection bounds the shutdown.
///
/// A phase change only stores a deadline: the one timer of the connection is never moved
/// earlier, it wakes at most `tick` (the shortest timeout) after it was set, and then looks at
/// the current deadline. So a request costs no timer work on an HTTP/1 keep-alive connection, an
/// idle connection wakes a few times before it is closed, and a stream removes the handler and
/// keeps nothing of it. An HTTP/2 stream schedules its timer only when a read ends with its
/// request still incomplete: a request that comes whole in one read costs none.
final class ConnectionDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny

    /// What the deadlines bound.
    enum Scope {
        /// An HTTP/1 connection (also a TLS connection until ALPN has chosen).
        case http1
        /// An HTTP/2 connection: its first head, then idle time between streams.
        case http2Connection
        /// One HTTP/2 stream's request: its body. Closing the stream's channel resets it.
        case http2Stream
    }

    enum Phase {
        /// Waiting for a request's head to complete (also a new connection's first head).
        case head
        /// Head read, waiting for the body's end.
        case body
        /// The request is complete; its answer is being produced (no deadline).
        case answering
        /// Between requests on a keep-alive connection.
        case idle
    }

    private let headTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let shutdownTimeout: TimeAmount
    private let tick: TimeAmount

    private(set) var phase = Phase.head
    private(set) var scope: Scope
    /// HTTP/2: streams open on the connection.
    private var openStreams = 0
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var shutdownTimer: Scheduled<Void>?

    init(configuration: HeraldHTTPConfiguration, scope: Scope = .http1) {
        self.scope = scope
        headTimeout = TimeAmount(configuration.headTimeout)
        bodyTimeout = TimeAmount(configuration.bodyTimeout)
        idleTimeout = TimeAmount(configuration.idleTimeout)
        shutdownTimeout = TimeAmount(configuration.shutdownTimeout)
        tick = max(.milliseconds(1), min(headTimeout, bodyTimeout, idleTimeout))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A stream exists once its request's head is complete.
        enter(scope == .http2Stream ? .body : .head)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // HTTP/2: a connection's frames between requests are not requests (see `Scope`).
        if phase == .idle, scope == .http1 { enter(.head) }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // An HTTP/2 stream's request still incomplete after a read: now its deadline needs the timer.
        if scope == .http2Stream, timer == nil, deadline != .distantFuture { schedule(now: .now()) }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // An HTTP/2 stream ends with its connection, whose own deadlines bound the shutdown.
        if event is ChannelShouldQuiesceEvent, shutdownTimer == nil, scope != .http2Stream {
            // Whatever the client does, the connection ends within the grace period.
            let channel = context.channel
            shutdownTimer = context.eventLoop.assumeIsolated().scheduleTask(in: shutdownTimeout) {
                channel.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutdownTimer?.cancel()
        shutdownTimer = nil
        context.fireChannelInactive()
    }

    // MARK: told by the other handlers

    /// A request's head is complete: its body has `bodyTimeout` from now. (Only once per
    /// request, and not while an earlier request is answered.)
    func headReceived() {
        if phase == .head { enter(.body) }
    }

    /// A request is complete: no deadline while it is answered.
    func requestReceived() { enter(.answering) }

    /// Everything asked so far is answered: the connection is idle (unless a later request
    /// has started meanwhile).
    func responseSent() {
        if phase == .answering { enter(.idle) }
    }

    /// `PublishFrontHandler` answered the requests it read; `partial`: the next one has begun.
    func answeredFromBytes(partial: Bool) { enter(partial ? .head : .idle) }

    /// The connection became a stream: streams have no deadlines. Removes this handler, but
    /// keeps the shutdown bound (the stream's own end enforces it from then on).
    func streamOpened() { leave() }

    /// No deadlines on this connection from now on: removes this handler.
    func leave() {
        guard let context else { return }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The TLS connection's ALPN chose HTTP/2: from now on the connection is busy while it has
    /// streams, idle when it has none. (Its first head is still due by the same deadline.)
    func becameHTTP2() {
        scope = .http2Connection
    }

    /// HTTP/2: a stream opened on the connection (its HEADERS are complete).
    func streamCreated() {
        openStreams += 1
        enter(.answering)
    }

    /// HTTP/2: a stream of the connection closed; with none left the connection is idle.
    func streamClosed() {
        openStreams = max(0, openStreams - 1)
        if openStreams == 0 { enter(.idle) }
    }

    // MARK: the timer

    private func enter(_ next: Phase) {
        phase = next
        let timeout: TimeAmount
        switch (next, scope) {
        case (.head, _): timeout = headTimeout
        case (.body, _): timeout = bodyTimeout
        case (.idle, .http1), (.idle, .http2Connection): timeout = idleTimeout
        case (.answering, _), (.idle, .http2Stream):
            // Nothing is due (and no clock is read): a request being answered, or a stream
            // whose request is done (the stream ends with its answer).
            deadline = .distantFuture
            return
        }
        let now = NIODeadline.now()
        deadline = now + timeout
        // An HTTP/2 stream's timer waits for the end of the read (`channelReadComplete`).
        if timer == nil, scope != .http2Stream { schedule(now: now) }
    }

    private func schedule(now: NIODeadline) {
        guard let context else { return }
        let wake = min(deadline, now + tick)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: wake) { [self] in
            self.timer = nil
            self.check()
        }
    }

    private func check() {
        guard let context, deadline != .distantFuture else { return }
        let now = NIODeadline.now()
        if now >= deadline {
            // A head or body too slow, or an idle keep-alive connection: nothing is being
            // answered, so there is nothing to finish first. (An HTTP/2 stream: a reset.)
            context.close(promise: nil)
        } else {
            schedule(now: now)
        }
    }
}
