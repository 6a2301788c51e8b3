import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

extension HTTPServerBuilder {
    /// HTTP/1 where Herald answers its own hub requests on the event loop: publishes with no
    /// task per request, streams with no task at all (a few KiB per idle subscriber instead
    /// of a suspended request handler). Every other request reaches the router as with `.http1`.
    ///
    /// ```
    /// let endpoint = router.addHerald(hub)
    /// let app = Application(router: router, server: .herald(endpoint))
    /// ```
    /// Requests answered this way skip router middleware; use `.http1` where a middleware must
    /// see every hub request.
    public static func herald(_ endpoint: HeraldEndpoint, configuration: HTTP1Channel.Configuration = .init())
        -> HTTPServerBuilder
    {
        HTTPServerBuilder { responder in
            HeraldHTTP1Channel(endpoint: endpoint, http1: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A connection of `HTTPServerBuilder.herald`: a `PublishFrontHandler`, the HTTP/1 codec and a
/// `HubChannelHandler` from the start; Hummingbird's request handling (and its task) only once a
/// request needs it.
struct HeraldHTTP1Channel: ServerChildChannel {
    /// The connection, and the router's side of it if it is ever needed.
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// Succeeds with the router's channel at the first request for the router, or with nil
        /// when the connection closes or becomes a stream without one.
        let router: EventLoopFuture<NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>?>
    }

    let endpoint: HeraldEndpoint
    let http1: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let deadlines = ConnectionDeadlines(configuration: endpoint.configuration)
            let router = try Self.configure(
                channel, endpoint: endpoint, configuration: http1.configuration, deadlines: deadlines, logger: logger
            )
            // Ahead of everything: it sees each request's first bytes.
            try channel.pipeline.syncOperations.addHandler(deadlines, position: .first)
            return Value(channel: channel, router: router)
        }
    }

    /// Adds Herald's HTTP/1 handlers at the end of `channel`'s pipeline (for HTTP/1.1 over TLS,
    /// behind TLS): a `PublishFrontHandler`, the HTTP/1 codec and a `HubChannelHandler` that
    /// tell `deadlines` where the connection stands (the caller places `deadlines` ahead of
    /// everything). Returns what the connection's task waits on: the router's channel, set up
    /// at the first request that needs it, or nil.
    static func configure(
        _ channel: any Channel,
        endpoint: HeraldEndpoint,
        configuration: HTTP1Channel.Configuration,
        deadlines: ConnectionDeadlines,
        logger: Logger
    ) throws -> EventLoopFuture<NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>?> {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
        limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
        limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
        // The channel keeps its receive buffer for reuse for as long as it lives; a stream
        // reads one request, so start small (NIO's default is 2 KiB) and grow for big bodies.
        try channel.syncOptions?.setOption(.recvAllocator, value: Self.receiveBuffers)
        let pipeline = channel.pipeline.syncOperations
        // Ahead of the codec: plain publishes are answered from the bytes.
        try pipeline.addHandler(PublishFrontHandler(endpoint: endpoint, deadlines: deadlines))
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false,
            withErrorHandling: false,
            withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: limits
        )
        let codec = HeraldHTTP1Codec()
        try pipeline.addHandler(codec)
        let promise = channel.eventLoop.makePromise(of: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>?.self)
        let handover = RouterHandover(promise: promise) { channel, handler in
            // What `HTTP1Channel.setup` adds after the codec, behind the hub's handler.
            try RouterHandover.addRouterHandlers(to: channel, after: handler, configuration: configuration, logger: logger)
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel,
                configuration: .init(isOutboundHalfClosureEnabled: true)
            )
        }
        try pipeline.addHandler(
            HubChannelHandler(endpoint: endpoint, router: .absent(handover), deadlines: deadlines, codec: codec)
        )
        return promise.futureResult
    }

    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    func handle(value: Value, logger: Logger) async {
        guard let routerChannel = try? await value.router.get() else { return }
        await http1.handle(value: routerChannel, logger: logger)
    }
}

/// Sets up the router's part of a connection (or HTTP/2 stream) when its first request for the
/// router arrives, and tells the task that runs the router what came of it. Used on the
/// channel's loop only.
final class RouterHandover {
    typealias RouterChannel = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    typealias Install = (any Channel, any ChannelHandler) throws -> RouterChannel
    /// Takes the router's channel, or nil when there will be none; called once.
    typealias Deliver = (RouterChannel?) -> Void
    private var deliver: Deliver?
    private let installHandlers: Install

    init(deliver: @escaping Deliver, install: @escaping Install) {
        self.deliver = deliver
        self.installHandlers = install
    }

    /// An HTTP/1 connection's: its task waits on `promise`.
    convenience init(promise: EventLoopPromise<RouterChannel?>, install: @escaping Install) {
        self.init(deliver: { promise.succeed($0) }, install: install)
    }

    /// Adds the router's handlers after `handler`; false (and the task released) on failure.
    func install(after handler: any ChannelHandler, on channel: any Channel) -> Bool {
        guard let deliver else { return false }
        self.deliver = nil
        do {
            deliver(try installHandlers(channel, handler))
            return true
        } catch {
            deliver(nil)
            return false
        }
    }

    /// What Hummingbird adds after the HTTP codec for its router (the configuration's extra
    /// handlers, then its connection-state handler), placed after `handler`: the same on an
    /// HTTP/1 connection and in an HTTP/2 stream channel.
    static func addRouterHandlers(
        to channel: any Channel,
        after handler: any ChannelHandler,
        configuration: HTTP1Channel.Configuration,
        logger: Logger
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        var handlers = configuration.additionalChannelHandlers()
        handlers.append(HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
        var position = ChannelPipeline.SynchronousOperations.Position.after(handler)
        for added in handlers {
            try pipeline.addHandler(added, position: position)
            position = .after(added)
        }
    }

    /// No router on this connection after all.
    func release() {
        deliver?(nil)
        deliver = nil
    }
}

/// `HTTP1ToHTTPServerCodec` (NIO's HTTP/1 parts to HTTP types and back) that remembers the
/// request's HTTP version, which the HTTP types drop: an HTTP/1.0 client cannot read a chunked
/// stream, so its stream is close-delimited.
final class HeraldHTTP1Codec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The latest request head's version was HTTP/1.0.
    private(set) var isHTTP10 = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            isHTTP10 = head.version.major == 1 && head.version.minor == 0
            do {
                let request = try HTTPRequest(head, secure: false, splitCookie: false)
                context.fireChannelRead(wrapInboundOut(.head(request)))
            } catch {
                context.fireErrorCaught(error)
            }
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            var response = response
            // An HTTP/1.0 client cannot read chunked framing: an answer of unknown length (a
            // stream, whichever path opened it) is close-delimited instead, with an HTTP/1.0
            // status line (so the encoder adds no chunks) and `Connection: close`.
            if isHTTP10, response.headerFields[.contentLength] == nil {
                response.headerFields[.connection] = "close"
            }
            var head = HTTPResponseHead(response)
            if isHTTP10, response.headerFields[.connection] == "close" { head.version = .http1_0 }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
        case .end(let trailers):
            context.write(wrapOutboundOut(.end(trailers.map(HTTPHeaders.init))), promise: promise)
        }
    }
}
