import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2
import NIOTLS

extension HTTPServerBuilder {
    /// TLS with ALPN, HTTP/2 or HTTP/1.1, where Herald answers its own hub requests on the event
    /// loop: in each HTTP/2 stream, and on an HTTP/1.1 connection as `.herald(_:)` does without
    /// TLS. A subscription's stream needs no Swift task, no `NIOAsyncChannel` and no router, and
    /// a publish none either. Every other request is served by the router exactly as by
    /// `.http2Upgrade(tlsConfiguration:)`. Every connection has the timeouts of
    /// `HeraldHTTPConfiguration` (head, body, idle; the TLS handshake counts as the first head).
    ///
    /// `tls` makes one connection's TLS handler, for example `{ NIOSSLServerHandler(context:
    /// sslContext) }`, where the context's configuration offers ALPN `h2` and `http/1.1`
    /// (`NIOHTTP2SupportedALPNProtocols`). Taking a factory keeps this module free of a TLS
    /// library.
    ///
    /// ```
    /// let endpoint = router.addHerald(hub)
    /// let app = Application(router: router, server: .herald(endpoint, tls: { NIOSSLServerHandler(context: ssl) }))
    /// ```
    /// Hub requests answered this way skip router middleware, as with `.herald(_:)`.
    public static func herald(
        _ endpoint: HeraldEndpoint,
        tls: @escaping @Sendable () throws -> any ChannelHandler,
        configuration: HTTP1Channel.Configuration = .init()
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            HeraldSecureChannel(endpoint: endpoint, tls: tls, http1: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A connection of `HTTPServerBuilder.herald(_:tls:)`: TLS, then what ALPN chose. HTTP/1.1 is
/// the pipeline of `HeraldHTTP1Channel` behind TLS (the router's part set up at the first request
/// that needs it). HTTP/2 is NIO's inline stream multiplexer with, in every stream
/// channel, the stream codec and a `HubChannelHandler` in its HTTP/2 framing; a stream that needs
/// the router gets the router's handlers then and is handed to the connection's task, which runs
/// it in a child task. Idle subscriptions cost the stream channel and the sink, nothing more.
struct HeraldSecureChannel: ServerChildChannel {
    typealias RouterChannel = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let negotiated: EventLoopFuture<Negotiated>
    }

    /// What the connection became once ALPN was done.
    enum Negotiated: Sendable {
        /// The router's channel once a request needs it, nil if none ever does.
        case http1(EventLoopFuture<RouterChannel?>)
        /// The streams that need the router, as they come; finishes when the connection closes.
        case http2(AsyncStream<RouterChannel>)
    }

    let endpoint: HeraldEndpoint
    let tls: @Sendable () throws -> any ChannelHandler
    let http1: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            // Ahead of TLS: the handshake, ALPN and the first request are the first head.
            let deadlines = ConnectionDeadlines(configuration: endpoint.configuration)
            try pipeline.addHandler(deadlines)
            try pipeline.addHandler(try tls())
            let http1 = self.http1
            let endpoint = self.endpoint
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result, channel in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        deadlines.becameHTTP2()
                        return .http2(
                            try Self.configureHTTP2(
                                channel, endpoint: endpoint, deadlines: deadlines, configuration: http1.configuration, logger: logger
                            )
                        )
                    }
                case .negotiated("http/1.1"), .fallback:
                    return channel.eventLoop.makeCompletedFuture {
                        .http1(
                            try HeraldHTTP1Channel.configure(
                                channel, endpoint: endpoint, configuration: http1.configuration, deadlines: deadlines, logger: logger
                            )
                        )
                    }
                case .negotiated:
                    // Nothing this server offered.
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(NIOHTTP2Errors.invalidALPNToken())
                }
            }
            try pipeline.addHandler(negotiation)
            return Value(channel: channel, negotiated: negotiation.protocolNegotiationResult)
        }
    }

    /// The HTTP/2 connection: frames, the connection's lifecycle (GOAWAY on graceful shutdown,
    /// bounded by the shutdown grace period: `deadlines`) and an initializer per stream. The
    /// connection's `deadlines` learn when streams open and close; each stream gets deadlines of
    /// its own for its request's body.
    private static func configureHTTP2(
        _ channel: any Channel,
        endpoint: HeraldEndpoint,
        deadlines: ConnectionDeadlines,
        configuration: HTTP1Channel.Configuration,
        logger: Logger
    ) throws -> AsyncStream<RouterChannel> {
        let (routerStreams, continuation) = AsyncStream.makeStream(of: RouterChannel.self)
        let lifecycle = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: nil,
                maxAge: nil,
                maxGraceTime: TimeAmount(endpoint.configuration.shutdownTimeout),
                keepalive: nil
            )
        )
        let pipeline = channel.pipeline.syncOperations
        // Publisher backpressure holds the connection's reads here (`holdBackWhileFanOutLags`).
        try pipeline.addHandler(HTTP2ReadGate())
        try pipeline.addHandler(FlushCoalescer())
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: .init(),
            streamConfiguration: .init(),
            streamDelegate: StreamsOpen(
                deadlines: NIOLoopBound(deadlines, eventLoop: channel.eventLoop),
                next: lifecycle.http2StreamDelegate
            )
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let handover = RouterHandover(
                    deliver: { routerChannel in
                        if let routerChannel { continuation.yield(routerChannel) }
                    },
                    install: { stream, handler in
                        // What Hummingbird's HTTP/2 stream channel adds after the codec.
                        try RouterHandover.addRouterHandlers(
                            to: stream, after: handler, configuration: configuration, logger: logger
                        )
                        return try RouterChannel(wrappingChannelSynchronously: stream)
                    }
                )
                let pipeline = stream.pipeline.syncOperations
                let streamDeadlines = ConnectionDeadlines(configuration: endpoint.configuration, scope: .http2Stream)
                try pipeline.addHandler(streamDeadlines)
                try pipeline.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                try pipeline.addHandler(
                    HubChannelHandler(endpoint: endpoint, router: .absent(handover), deadlines: streamDeadlines, framing: .http2)
                )
            }
        }
        try pipeline.addHandler(lifecycle)
        try pipeline.addHandler(HTTP2ConnectionEnd())
        channel.closeFuture.whenComplete { _ in continuation.finish() }
        return routerStreams
    }

    func handle(value: Value, logger: Logger) async {
        let negotiated: Negotiated
        do {
            negotiated = try await value.negotiated.get()
        } catch {
            logger.debug("TLS/ALPN negotiation failed", metadata: ["error": "\(error)"])
            return
        }
        switch negotiated {
        case .http1(let router):
            guard let connection = try? await router.get() else { return }
            await http1.handle(value: connection, logger: logger)
        case .http2(let routerStreams):
            // One task for the connection; one child task per stream only while the router
            // serves it.
            await withDiscardingTaskGroup { group in
                for await stream in routerStreams {
                    group.addTask { await http1.handle(value: stream, logger: logger) }
                }
            }
        }
    }
}

/// Tells an HTTP/2 connection's `ConnectionDeadlines` when its streams open and close (it is
/// idle when none is open), and passes both on to `next` (the lifecycle handler's delegate).
/// Called on the connection's loop.
struct StreamsOpen: NIOHTTP2StreamDelegate {
    let deadlines: NIOLoopBound<ConnectionDeadlines>
    let next: any NIOHTTP2StreamDelegate

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        deadlines.value.streamCreated()
        next.streamCreated(id, channel: channel)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        deadlines.value.streamClosed()
        next.streamClosed(id, channel: channel)
    }
}

/// Ends an HTTP/2 connection where NIO's handlers would leave it open: when the client closed its
/// side (the server allows half-closure, so that arrives as an event, not a close: without this
/// every stream on the connection would stay subscribed) and on a connection error (not a
/// stream's: NIO has sent its GOAWAY, for example ENHANCE_YOUR_CALM after a storm of stream
/// resets, and leaves the close to the pipeline, as Hummingbird's HTTP/2 channel does on any
/// error). At the end of the connection's pipeline. (A graceful shutdown that outlasts the grace
/// period is ended by the connection's `ConnectionDeadlines`: NIO's bound only starts once the
/// client answers the PING that follows the first GOAWAY, and a client that never does would
/// hold the server.)
final class HTTP2ConnectionEnd: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream's error, or a stream over the concurrency limit (NIO refuses it with
        // REFUSED_STREAM), ends that stream only.
        if error is NIOHTTP2Errors.StreamError || error is NIOHTTP2Errors.MaxStreamsViolation { return }
        context.close(promise: nil)
    }
}

/// Between TLS and the HTTP/2 frames: the flushes asked for while the loop runs one task become
/// one, right after it. A fan-out writes one event to every stream of a connection and each
/// stream flushes; without this each flush is its own TLS record run and `write` system call
/// (100 per event on a connection of 100 streams), with it the connection makes one.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            guard self.flushScheduled else { return }
            self.flushScheduled = false
            context.flush()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        flushScheduled = false
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // What was written before the close (a GOAWAY, a stream's last frames) goes out first.
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
