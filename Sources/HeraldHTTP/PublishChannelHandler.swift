import HTTPTypes
import HeraldHub
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// The fast path of publishing: answers a well-formed, authorized `POST` to the hub on the
/// connection's event loop, with no task or thread hop, when the hub can publish at once (the
/// in-memory broker). Anything else — other routes, bad input, an unknown token, a cookie, a
/// Redis broker, a request while an earlier one is still being answered — is passed on
/// unchanged to the router, which answers it (errors included) as usual.
///
/// Add it to the server's HTTP/1 pipeline: `.http1(configuration: .init(additionalChannelHandlers:
/// [endpoint.makePublishChannelHandler()]))`. It bypasses router middleware for the requests it
/// answers, so leave it out when a middleware must see every publish.
final class PublishChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// A candidate publish: head and body so far, held back from the router.
        case collecting(HTTPRequest, ByteBuffer)
        /// A request the router handles; its parts pass through until its end.
        case forwarding
    }

    private let endpoint: HeraldEndpoint
    private var state = State.idle
    /// Requests handed to the router whose response has not ended yet: answering a later one
    /// here first would reorder responses.
    private var routerResponsesPending = 0

    init(endpoint: HeraldEndpoint) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerResponsesPending == 0, head.method == .post, isHubPath(head.path),
                head.headerFields[.connection] == nil
            {
                state = .collecting(head, context.channel.allocator.buffer(capacity: 0))
            } else {
                forward(.head(head), context: context)
                state = .forwarding
            }
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
                respond(id, context: context)
            } else {
                giveUp(head, body: body, context: context)
                forward(.end(trailers), context: context)
            }
        case (.forwarding, .end):
            state = .idle
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerResponsesPending = max(0, routerResponsesPending - 1) }
        context.write(data, promise: promise)
    }

    private func forward(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if case .head = part { routerResponsesPending += 1 }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Hands a held-back request to the router after all.
    private func giveUp(_ head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        forward(.head(head), context: context)
        if body.readableBytes > 0 { forward(.body(body), context: context) }
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
        guard head.headerFields[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true,
            body.readableBytes > 0,
            let update = try? HeraldEndpoint.decodeUpdate(body),
            isAuthorized(head, topics: update.topics, remoteAddress: remoteAddress)
        else { return nil }
        let id = endpoint.hub.publishImmediately(update)
        if id != nil { endpoint.countFastPublish() }
        return id
    }

    /// Authorized without waiting: loopback with no key, or a bearer token verified before.
    private func isAuthorized(_ head: HTTPRequest, topics: [String], remoteAddress: SocketAddress?) -> Bool {
        guard let verifier = endpoint.publisherVerifier else { return remoteAddress?.isLoopback == true }
        var token: String?
        if let header = head.headerFields[.authorization] {
            token = bearerToken(header)
        } else if let query = head.path?.split(separator: "?", maxSplits: 1).dropFirst().first {
            token = (try? FormFields(decoding: Array(query.utf8)))?.values("authorization").first
        }
        guard let token, let claims = verifier.cachedClaims(token), let allowed = claims.mercure?.publish else {
            return false
        }
        return HeraldEndpoint.firstTopic(of: topics, notCoveredBy: allowed) == nil
    }

    private func respond(_ id: String, context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: id.utf8.count + 1)
        body.writeString(id)
        body.writeStaticString("\n")
        let head = HTTPResponse(
            status: .ok,
            headerFields: [
                .contentType: "text/plain; charset=utf-8",
                .cacheControl: "no-store",
                .contentLength: String(body.readableBytes),
            ]
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
