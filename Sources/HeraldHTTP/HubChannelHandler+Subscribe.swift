import HTTPTypes
import HeraldHub
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

extension HubChannelHandler {
    /// Opens a subscription for a complete `GET` and turns the connection into its stream; a
    /// refusal is answered here (the connection stays usable), and a hub that cannot stream
    /// on this loop leaves the request to the router.
    func open(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let endpoint = self.endpoint
        let hub = endpoint.hub
        guard hub.hasShard(on: context.eventLoop) else {
            state = .forwarding
            giveUp(head, body: context.channel.allocator.buffer(capacity: 0), context: context)
            forward(.end(nil), context: context)
            state = .idle
            return
        }
        let sink = ChannelSink(channel: context.channel, hub: hub)
        let request = HubRequest(head: head, peerIsLoopback: context.channel.remoteAddress?.isLoopback == true)
        let origin = head.headerFields[.origin]
        let eventLoop = context.eventLoop
        eventLoop.makeFutureWithTask { () async -> Opened in
            switch await endpoint.core.decide(request) {
            case .subscribe(let intent):
                do {
                    return .stream(try await hub.subscribe(intent.request, sink: sink, on: eventLoop), intent)
                } catch {
                    return .answer(endpoint.core.withCORS(endpoint.core.refusal(error).answer, origin: origin))
                }
            case .answer(let answer):
                return .answer(answer)
            case .publish:
                // A GET is never a publish; answered like any request the core cannot take.
                return .answer(Refusal(status: .methodNotAllowed, reason: "not a publish").answer)
            }
        }.assumeIsolated().whenSuccess { opened in
            switch opened {
            case .stream(let subscription, let intent):
                self.stream(subscription, intent, sink: sink, origin: origin, context: context)
            case .answer(let answer):
                self.refuse(answer, context: context)
            }
        }
    }

    /// What opening a subscription came to.
    enum Opened: Sendable {
        case stream(Subscription, HubProtocol.SubscribeIntent)
        case answer(HubAnswer)
    }

    /// Writes the stream's head, strips the HTTP handlers (nothing more is parsed or encoded on
    /// this connection: an idle stream keeps only the channel and the sink) and hands the
    /// connection to the sink until the stream ends.
    private func stream(
        _ subscription: Subscription,
        _ intent: HubProtocol.SubscribeIntent,
        sink: ChannelSink,
        origin: String?,
        context: ChannelHandlerContext
    ) {
        guard context.channel.isActive, !inputClosed, case .opening = state else {
            // The client left (or half-closed) while the subscription opened.
            subscription.cancel()
            closeWhenWritten(context: context)
            return
        }
        state = .streaming(subscription)
        held = []
        releaseRouter()
        deadlines?.streamOpened()
        // HTTP/1.0 clients cannot read chunks: their stream is close-delimited.
        let chunked = !(codec?.isHTTP10 ?? false)
        endpoint.logStreamOpened(subscription, topics: intent.rawSelectors, remoteAddress: context.channel.remoteAddress)
        var headers = endpoint.core.streamHeaders(subscription, intent, origin: origin)
        // One stream per connection, and the connection ends with it: say so up front, so a
        // client with a connection pool (AsyncHTTPClient, browsers) never reuses it for its next
        // request after the stream's last chunk (it would meet a closed socket).
        headers[.connection] = "close"
        let head = HTTPResponse(status: .ok, headerFields: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let retry = endpoint.hub.configuration.retryField {
            context.write(wrapOutboundOut(.body(retry)), promise: nil)
        }
        context.flush()
        if quiescing { subscription.cancel(reason: .shutdown) }
        Self.removeHTTPHandlers(from: context.channel, hubHandler: context)
        sink.streamRaw(subscription, endpoint: endpoint, chunked: chunked)
    }

    /// The end of an event-loop path's stream (`ChannelSink.streamRaw`): one stream per
    /// connection, so once it ends, so does the connection. A client that fell behind is cut
    /// off at once; the others get the body's last chunk first.
    static func streamEnded(
        _ subscription: Subscription,
        reason: StreamCloseReason,
        endpoint: HeraldEndpoint,
        channel: any Channel,
        chunked: Bool
    ) {
        endpoint.logStreamClosed(subscription, reason: "\(reason)")
        guard reason != .tooSlow, channel.isActive else {
            channel.close(promise: nil)
            return
        }
        if reason == .shutdown {
            // A client that does not read may never let the last bytes out: the connection
            // ends with the grace period regardless.
            channel.eventLoop.scheduleTask(in: TimeAmount(endpoint.configuration.shutdownTimeout)) {
                channel.close(promise: nil)
            }
        }
        let end = chunked ? ByteBuffer(staticString: "0\r\n\r\n") : ByteBuffer()
        channel.writeAndFlush(end).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Removes the HTTP codec and this handler from a connection that has become a stream.
    private static func removeHTTPHandlers(from channel: any Channel, hubHandler: ChannelHandlerContext) {
        let pipeline = channel.pipeline.syncOperations
        let codecs: [ChannelHandlerContext?] = [
            try? pipeline.context(handlerType: HeraldHTTP1Codec.self),
            try? pipeline.context(handlerType: HTTPResponseEncoder.self),
            try? pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self),
        ]
        for case let context? in codecs + [hubHandler] {
            pipeline.removeHandler(context: context, promise: nil)
        }
    }

    /// Answers a refused subscribe and goes on with whatever the client sent meanwhile.
    private func refuse(_ answer: HubAnswer, context: ChannelHandlerContext) {
        guard context.channel.isActive, case .opening = state else { return }
        state = .idle
        respond(answer, context: context)
        let waiting = held
        held = []
        for part in waiting {
            channelRead(context: context, data: wrapInboundOut(part))
        }
        // Outside a read, the router's channel only takes what it was given at a read's end.
        if !waiting.isEmpty { context.fireChannelReadComplete() }
    }
}
