import NIOCore

/// The first handler of a `.herald` connection: closes it when a request's head or body takes
/// too long, when it sits idle between requests for too long, and at the end of the grace
/// period once the server shuts down.
///
/// The other handlers tell it where the connection stands (`headReceived`, `requestReceived`,
/// `responseSent`, `streamOpened`); it notices a new request's first bytes itself. A phase
/// change only stores a deadline: the one timer of the connection is never moved earlier, it
/// wakes at most `tick` (the shortest timeout) after it was set, and then looks at the current
/// deadline. So a request costs no timer work, an idle keep-alive connection wakes a few times
/// before it is closed, and a stream removes the handler and keeps nothing of it.
final class ConnectionDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

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
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var shutdownTimer: Scheduled<Void>?

    init(configuration: HeraldHTTPConfiguration) {
        headTimeout = TimeAmount(configuration.headTimeout)
        bodyTimeout = TimeAmount(configuration.bodyTimeout)
        idleTimeout = TimeAmount(configuration.idleTimeout)
        shutdownTimeout = TimeAmount(configuration.shutdownTimeout)
        tick = max(.milliseconds(1), min(headTimeout, bodyTimeout, idleTimeout))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        enter(.head)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if phase == .idle { enter(.head) }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, shutdownTimer == nil {
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
    func requestReceived() { phase = .answering }

    /// Everything asked so far is answered: the connection is idle (unless a later request
    /// has started meanwhile).
    func responseSent() {
        if phase == .answering { enter(.idle) }
    }

    /// `PublishFrontHandler` answered the requests it read; `partial`: the next one has begun.
    func answeredFromBytes(partial: Bool) { enter(partial ? .head : .idle) }

    /// The connection became a stream: streams have no deadlines. Removes this handler, but
    /// keeps the shutdown bound (the stream's own end enforces it from then on).
    func streamOpened() {
        guard let context else { return }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    // MARK: the timer

    private func enter(_ next: Phase) {
        phase = next
        let now = NIODeadline.now()
        switch next {
        case .head: deadline = now + headTimeout
        case .body: deadline = now + bodyTimeout
        case .idle: deadline = now + idleTimeout
        case .answering: return
        }
        if timer == nil { schedule(now: now) }
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
        guard let context, phase != .answering else { return }
        let now = NIODeadline.now()
        if now >= deadline {
            // A head or body too slow, or an idle keep-alive connection: nothing is being
            // answered, so there is nothing to finish first.
            context.close(promise: nil)
        } else {
            schedule(now: now)
        }
    }
}
