import HTTPTypes
import HeraldHub
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers the hub's own requests on the connection's event loop, with no task per request
/// or per stream, and passes everything else to the router unchanged.
///
/// - A well-formed, authorized `POST` that the hub can publish at once (in-memory broker) is
///   answered here. Anything else — other routes, bad input, an unknown token, a cookie, an
///   `Origin` (a browser page, whose origin the router checks), a Redis broker, a request while
///   an earlier one is still being answered by the router — goes to the router, which answers
///   it (errors included) as usual.
/// - On a connection this handler owns (`HTTPServerBuilder.herald`), a subscribe `GET` is
///   opened here too: the response head goes out and a `ChannelSink` streams the events. The
///   connection then needs no Swift task at all, which is most of an idle stream's memory.
///   The router's part of the pipeline (and the task that runs it) is only set up when a
///   request needs it (`RouterHandover`).
/// - In an HTTP/2 stream channel (`framing: .http2`, `HTTPServerBuilder.herald(_:tls:)`) it does
///   the same for the stream's one request: the protocol's answers are the same, only the
///   framing differs (no `Connection` header, the response ends with an `.end` part, the stream
///   codec stays, and "closing the connection" resets the stream, never the connection).
final class HubChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        /// Between requests.
        case idle
        /// A candidate publish: head and body so far, held back from the router.
        case collecting(HTTPRequest, ByteBuffer)
        /// A candidate subscribe: its head, until the request ends.
        case subscribing(HTTPRequest)
        /// The subscription is being opened; parts that arrive meanwhile wait in `held`.
        case opening
        /// A publish waits for the broker (Redis); parts that arrive meanwhile wait in `held`.
        case publishing
        /// The connection is a stream; anything the client sends now is ignored.
        case streaming(Subscription)
        /// A request the router handles; its parts pass through until its end.
        case forwarding
        /// A request answered (refused) from its head: its body is dropped as it comes.
        case refused(discarded: Int)
    }

    /// Where the router stands on this connection.
    enum Router {
        /// Behind this handler from the start (`makePublishChannelHandler`).
        case present
        /// Not set up yet: installed on the first request that needs it.
        case absent(RouterHandover)
        /// Never needed: the connection became a stream.
        case released
    }

    /// How responses are framed on this channel.
    enum Framing {
        /// An HTTP/1 connection: raw writes go below the HTTP codec, which leaves with a stream.
        case http1
        /// An HTTP/2 stream channel: every write is an `HTTPResponsePart` through the stream's codec.
        case http2
    }

    let endpoint: HeraldEndpoint
    let framing: Framing
    var state = State.idle
    var router: Router
    /// Parts that arrived while a subscription was being opened.
    var held: [HTTPRequestPart] = []
    /// The server is shutting down: close once the current request is answered.
    var quiescing = false
    /// The client closed its side (half-closed or gone): nothing more will come, so the
    /// connection ends once what is being answered is written.
    var inputClosed = false
    private var encoderContext: ChannelHandlerContext?
    /// Requests handed to the router whose response has not ended yet: answering a later one
    /// here first would reorder responses.
    private var routerResponsesPending = 0
    /// The connection's timeouts (`.herald` connections only).
    let deadlines: ConnectionDeadlines?
    /// The HTTP/1 codec, for the request's version (`.herald` connections only).
    let codec: HeraldHTTP1Codec?
    /// HTTP/2: the last answer's `.end` write, which a stream reset must not overtake.
    private var lastAnswerWritten: EventLoopFuture<Void>?

    init(
        endpoint: HeraldEndpoint,
        router: Router,
        deadlines: ConnectionDeadlines? = nil,
        codec: HeraldHTTP1Codec? = nil,
        framing: Framing = .http1
    ) {
        self.endpoint = endpoint
        self.router = router
        self.deadlines = deadlines
        self.codec = codec
        self.framing = framing
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            deadlines?.headReceived()
            let isHub = isHubPath(head.path)
            if routerResponsesPending == 0 {
                if isHub, head.method == .post,
                    let refusal = endpoint.core.refusalBeforeBody(HubRequest(head: head, peerIsLoopback: false))
                {
                    // Refused from the head alone (a body over the limit, not a form, ...):
                    // answered before a byte of the body is read.
                    refuseEarly(refusal, head: head, context: context)
                    return
                }
                if let expect = head.headerFields[.expect] {
                    guard expect.lowercased() == "100-continue" else {
                        let reason = "only Expect: 100-continue is supported"
                        refuseEarly(Refusal(status: .expectationFailed, reason: reason), head: head, context: context)
                        return
                    }
                    // Nothing to refuse early: the client may send its body now.
                    switch framing {
                    case .http1: writeRaw(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"), context: context)
                    case .http2: context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                    }
                }
            }
            if routerResponsesPending == 0, isHub, head.headerFields[.connection] == nil {
                // A publish from a browser page (`Origin`) needs the router's origin check.
                if head.method == .post, head.headerFields[.origin] == nil {
                    state = .collecting(head, context.channel.allocator.buffer(capacity: 0))
                    return
                }
                if head.method == .get, case .absent = router {
                    state = .subscribing(head)
                    return
                }
            }
            forward(.head(head), context: context)
            state = .forwarding
        case (.collecting(let head, var body), .body(let chunk)):
            if body.readableBytes + chunk.readableBytes > endpoint.configuration.maxBodySize {
                // A body without a declared length (chunked) that outgrows the limit.
                refuseEarly(.bodyTooLarge(endpoint.configuration.maxBodySize), head: head, closing: true, context: context)
            } else {
                state = .idle  // drop the buffer's second reference before appending
                body.writeImmutableBuffer(chunk)
                state = .collecting(head, body)
            }
        case (.collecting(let head, let body), .end(let trailers)):
            state = .idle
            deadlines?.requestReceived()
            switch publish(head, body: body, remoteAddress: context.channel.remoteAddress) {
            case .published(let id):
                respondPublished(id, context: context)
                endpoint.holdBackWhileFanOutLags(context, framing: framing)
            case .pending(let answer):
                state = .publishing
                answer.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                    self.published(result, context: context)
                }
            case nil:
                giveUp(head, body: body, context: context)
                forward(.end(trailers), context: context)
            }
        case (.subscribing(let head), .end):
            deadlines?.requestReceived()
            state = .opening
            open(head, context: context)
        case (.subscribing(let head), .body):
            // A GET with a body: not the hub's usual client; the router decides.
            giveUp(head, body: context.channel.allocator.buffer(capacity: 0), context: context)
            forward(part, context: context)
            state = .forwarding
        case (.opening, _), (.publishing, _):
            if held.count >= Self.maxHeldParts {
                context.close(promise: nil)
            } else {
                held.append(part)
            }
        case (.streaming, _):
            break
        case (.forwarding, .end):
            state = .idle
            deadlines?.requestReceived()
            forward(part, context: context)
        case (.refused(let discarded), .body(let chunk)):
            // The body of a request answered from its head: read and dropped, up to the limit.
            let total = discarded + chunk.readableBytes
            if total > endpoint.configuration.maxBodySize {
                context.close(promise: nil)
            }
            state = .refused(discarded: total)
        case (.refused, .end):
            state = .idle
            deadlines?.requestReceived()
            deadlines?.responseSent()
        case (.refused, .head):
            break  // a connection being closed
        default:
            forward(part, context: context)
        }
    }

    /// A client may pipeline a little behind a subscribe; more than this while it opens is abuse.
    static let maxHeldParts = 64

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            routerResponsesPending = max(0, routerResponsesPending - 1)
            if routerResponsesPending == 0 { deadlines?.responseSent() }
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            clientClosed(context: context)
            context.fireUserInboundEventTriggered(event)
            return
        }
        if event is ChannelShouldQuiesceEvent, deadlines == nil, framing == .http1 {
            // An `.http1` connection (`makePublishChannelHandler`) has no `ConnectionDeadlines`
            // to end it with the grace period: this handler does. (An HTTP/2 connection's
            // management handler bounds its graceful close for all its streams.)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: TimeAmount(endpoint.configuration.shutdownTimeout)) {
                channel.close(promise: nil)
            }
        }
        guard event is ChannelShouldQuiesceEvent, !isRouterPresent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        switch state {
        case .idle: context.close(promise: nil)
        case .streaming(let subscription): subscription.cancel(reason: .shutdown)
        default: break  // closed once the request in progress is answered
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch router {
        case .present:
            context.fireErrorCaught(error)
        case .absent:
            // A closed connection's unfinished request (the codec reports it as it is torn
            // down): nobody to answer, and no router to set up on a pipeline going away.
            guard context.channel.isActive else { return }
            // A malformed request: the router's pipeline reports it as it always has.
            if handOver(context: context) {
                context.fireErrorCaught(error)
            } else {
                context.close(promise: nil)
            }
        case .released:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseRouter()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        encoderContext = nil
        releaseRouter()
    }

    /// The client closed its side. With the router on the connection, its request handling
    /// ends the connection (its inbound stream finishes); otherwise this handler does: at once
    /// between requests or with a request that can no longer complete, after the answer when a
    /// subscription is being opened or a publish waits for the broker (`stream`, `refuse` and
    /// `published` look at `inputClosed`).
    private func clientClosed(context: ChannelHandlerContext) {
        inputClosed = true
        guard !isRouterPresent else { return }
        switch state {
        case .opening, .publishing, .streaming: break
        case .idle, .collecting, .subscribing, .forwarding, .refused: closeWhenWritten(context: context)
        }
    }

    /// Closes the connection (HTTP/2: resets the stream) once everything written so far is out.
    func closeWhenWritten(context: ChannelHandlerContext) {
        let channel = context.channel
        if framing == .http2 {
            // A reset would drop the answer's DATA still waiting in the connection's buffers.
            guard let written = lastAnswerWritten else {
                channel.close(promise: nil)
                return
            }
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        guard let front = responseEncoder(context) else {
            channel.close(promise: nil)
            return
        }
        // Writes complete in order: an empty one completes once every earlier one has.
        front.writeAndFlush(NIOAny(IOData.byteBuffer(ByteBuffer()))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Writes finished bytes (an interim or complete response) past the HTTP encoder.
    private func writeRaw(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if let front = responseEncoder(context) {
            front.writeAndFlush(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
        }
    }

    /// Answers a request refused from its head at once. The connection then ends when the
    /// body is too large to read (declared or seen), or may not come at all (`Expect`);
    /// otherwise the body is read and dropped, and the connection goes on.
    private func refuseEarly(
        _ refusal: Refusal,
        head: HTTPRequest,
        closing: Bool = false,
        context: ChannelHandlerContext
    ) {
        state = .refused(discarded: 0)
        let declared = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
        let close = closing || head.headerFields[.expect] != nil || declared > endpoint.configuration.maxBodySize
        var answer = endpoint.core.withCORS(refusal.answer, origin: head.headerFields[.origin])
        if close, framing == .http1 { answer.headers[.connection] = "close" }
        respond(answer, context: context)
        if close { closeWhenWritten(context: context) }
    }

    var isRouterPresent: Bool {
        if case .present = router { return true }
        return false
    }

    /// Passes a part to the router, setting the router up first if this connection has none yet.
    func forward(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if case .absent = router, !handOver(context: context) {
            context.close(promise: nil)
            return
        }
        if case .head = part { routerResponsesPending += 1 }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Hands a held-back request to the router after all.
    func giveUp(_ head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        forward(.head(head), context: context)
        if body.readableBytes > 0 { forward(.body(body), context: context) }
    }

    /// Installs the router's handlers behind this one; false if that failed or is impossible.
    private func handOver(context: ChannelHandlerContext) -> Bool {
        guard case .absent(let handover) = router else { return isRouterPresent }
        router = .present
        return handover.install(after: self, on: context.channel)
    }

    /// The connection will never need the router: let its waiting task end.
    func releaseRouter() {
        guard case .absent(let handover) = router else { return }
        router = .released
        handover.release()
    }

    /// Whether a request target is the hub itself (the core's rule for paths).
    private func isHubPath(_ target: String?) -> Bool {
        guard let target else { return false }
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? Substring(target)
        return endpoint.core.resource(path) == .hub
    }

    /// The new update's id (or its pending answer), or nil when the router should handle the request.
    private func publish(_ head: HTTPRequest, body: ByteBuffer, remoteAddress: SocketAddress?) -> HeraldEndpoint.FastPublish? {
        endpoint.publishFast(HubRequest(head: head, body: body, peerIsLoopback: remoteAddress?.isLoopback == true))
    }

    /// The broker answered a pending publish: answer the client (the id, or the core's
    /// refusal for the broker's error), then go on with what it sent meanwhile.
    private func published(_ result: Result<String, any Error>, context: ChannelHandlerContext) {
        guard case .publishing = state else { return }
        state = .idle
        guard context.channel.isActive else { return }
        switch result {
        case .success(let id):
            respondPublished(id, context: context)
            endpoint.holdBackWhileFanOutLags(context, framing: framing)
        case .failure(let error):
            respond(endpoint.core.refusal(error).answer, context: context)
        }
        let waiting = held
        held = []
        for part in waiting {
            channelRead(context: context, data: wrapInboundOut(part))
        }
        // Outside a read, the router's channel only takes what it was given at a read's end.
        if !waiting.isEmpty { context.fireChannelReadComplete() }
        if inputClosed, !isRouterPresent, case .idle = state {
            // The client half-closed while its publish was in flight: it has every answer now.
            closeWhenWritten(context: context)
        }
    }

    /// A publish's answer, 200 with the id. Written as finished bytes at the front of the
    /// pipeline (nothing else is being answered on the connection: see `routerResponsesPending`),
    /// which spares two header conversions and the encoder on the busiest request there is.
    private func respondPublished(_ id: String, context: ChannelHandlerContext) {
        guard let front = responseEncoder(context) else {
            respond(.published(id), context: context)
            return
        }
        let answer = HeraldEndpoint.publishedAnswer(id, allocator: context.channel.allocator)
        front.writeAndFlush(NIOAny(IOData.byteBuffer(answer)), promise: nil)
        deadlines?.responseSent()
        if quiescing, !isRouterPresent { closeWhenWritten(context: context) }
    }

    /// The HTTP/1 response encoder's place in the pipeline: bytes written there go straight out.
    private func responseEncoder(_ context: ChannelHandlerContext) -> ChannelHandlerContext? {
        // An HTTP/2 stream has none (and would look for it on every publish).
        guard framing == .http1 else { return nil }
        if encoderContext == nil {
            encoderContext = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        }
        return encoderContext
    }

    /// A complete short answer of the core (a publish's id, a refusal's reason line, ...).
    func respond(_ answer: HubAnswer, context: ChannelHandlerContext) {
        let body = ByteBuffer(string: answer.body)
        var headerFields = answer.headers
        headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: headerFields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        switch framing {
        case .http1:
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .http2:
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            lastAnswerWritten = written.futureResult
        }
        deadlines?.responseSent()
        if (quiescing || inputClosed), !isRouterPresent { closeWhenWritten(context: context) }
    }
}
