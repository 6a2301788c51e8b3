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
        /// The connection is a stream; anything the client sends now is ignored.
        case streaming(Subscription)
        /// A request the router handles; its parts pass through until its end.
        case forwarding
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

    let endpoint: HeraldEndpoint
    var state = State.idle
    var router: Router
    /// Parts that arrived while a subscription was being opened.
    var held: [HTTPRequestPart] = []
    /// The server is shutting down: close once the current request is answered.
    var quiescing = false
    private var encoderContext: ChannelHandlerContext?
    /// Requests handed to the router whose response has not ended yet: answering a later one
    /// here first would reorder responses.
    private var routerResponsesPending = 0

    init(endpoint: HeraldEndpoint, router: Router) {
        self.endpoint = endpoint
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerResponsesPending == 0, isHubPath(head.path), head.headerFields[.connection] == nil {
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
                giveUp(head, body: body, context: context)
                forward(.body(chunk), context: context)
                state = .forwarding
            } else {
                state = .idle  // drop the buffer's second reference before appending
                body.writeImmutableBuffer(chunk)
                state = .collecting(head, body)
            }
        case (.collecting(let head, let body), .end(let trailers)):
            state = .idle
            if let id = publish(head, body: body, remoteAddress: context.channel.remoteAddress) {
                respondPublished(id, context: context)
                endpoint.holdBackWhileFanOutLags(context)
            } else {
                giveUp(head, body: body, context: context)
                forward(.end(trailers), context: context)
            }
        case (.subscribing(let head), .end):
            state = .opening
            open(head, context: context)
        case (.subscribing(let head), .body):
            // A GET with a body: not the hub's usual client; the router decides.
            giveUp(head, body: context.channel.allocator.buffer(capacity: 0), context: context)
            forward(part, context: context)
            state = .forwarding
        case (.opening, _):
            if held.count >= Self.maxHeldParts {
                context.close(promise: nil)
            } else {
                held.append(part)
            }
        case (.streaming, _):
            break
        case (.forwarding, .end):
            state = .idle
            forward(part, context: context)
        default:
            forward(part, context: context)
        }
    }

    /// A client may pipeline a little behind a subscribe; more than this while it opens is abuse.
    static let maxHeldParts = 64

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            routerResponsesPending = max(0, routerResponsesPending - 1)
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
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

    private func isHubPath(_ path: String?) -> Bool {
        guard let path else { return false }
        let hubPath = endpoint.configuration.path
        guard path.hasPrefix(hubPath) else { return false }
        let rest = path.utf8.dropFirst(hubPath.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "?")
    }

    /// The new update's id, or nil when the router should handle the request.
    private func publish(_ head: HTTPRequest, body: ByteBuffer, remoteAddress: SocketAddress?) -> String? {
        endpoint.publishImmediately(
            contentType: head.headerFields[.contentType],
            body: body,
            authorization: head.headerFields[.authorization],
            query: head.path?.split(separator: "?", maxSplits: 1).dropFirst().first,
            isForwarded: head.headerFields.isForwardedByProxy,
            remoteAddress: { remoteAddress }
        )
    }

    /// A publish's answer, 200 with the id. Written as finished bytes at the front of the
    /// pipeline (nothing else is being answered on the connection: see `routerResponsesPending`),
    /// which spares two header conversions and the encoder on the busiest request there is.
    private func respondPublished(_ id: String, context: ChannelHandlerContext) {
        guard let front = responseEncoder(context) else {
            respond(.ok, text: id, context: context)
            return
        }
        let answer = HeraldEndpoint.publishedAnswer(id, allocator: context.channel.allocator)
        let written = front.writeAndFlush(NIOAny(IOData.byteBuffer(answer)))
        if quiescing, !isRouterPresent {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The HTTP/1 response encoder's place in the pipeline: bytes written there go straight out.
    private func responseEncoder(_ context: ChannelHandlerContext) -> ChannelHandlerContext? {
        if encoderContext == nil {
            encoderContext = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        }
        return encoderContext
    }

    /// A complete short text/plain response (a publish's id, or a refusal's reason).
    func respond(
        _ status: HTTPResponse.Status,
        text: String,
        headers: HTTPFields = [:],
        context: ChannelHandlerContext
    ) {
        var body = context.channel.allocator.buffer(capacity: text.utf8.count + 1)
        body.writeString(text)
        body.writeStaticString("\n")
        var headerFields = headers
        headerFields.append(contentsOf: HTTPFields.plainText)
        headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: headerFields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if quiescing, !isRouterPresent {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
