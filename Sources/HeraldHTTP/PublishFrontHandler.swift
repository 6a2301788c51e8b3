import HTTPTypes
import NIOCore

/// The first handler of a `.herald` connection, ahead of the HTTP codec: answers plain hub
/// publishes straight from the bytes (see `RawPublishRequest`), with no HTTP decoding, header
/// conversion or response encoding, which is most of what a publish costs.
///
/// The first request it does not answer itself (any other request, or a publish it cannot
/// accept at once: bad input, unknown token, a broker that must wait) is passed on byte for
/// byte, with everything after it, and the handler leaves the pipeline: from then on the
/// connection is exactly a `.herald` connection without it. Answers stay in request order
/// because nothing is handed on while an answer of this handler could still follow.
final class PublishFrontHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let endpoint: HeraldEndpoint
    private let hubPath: [UInt8]
    /// A request's bytes so far, while it is incomplete, and what the parser said about it.
    private var partial: ByteBuffer?
    private var wait = 0
    private var searchFrom = 0
    /// The server asked connections to wind down while a request was incomplete.
    private var quiescing = false
    private var passedOn = false
    private var isLoopbackPeer: Bool?
    /// The connection's timeouts, told when requests are answered here.
    private let deadlines: ConnectionDeadlines?

    /// Heads longer than this are the codec's to judge (its default limit is 80 KiB).
    static let maxHeadSize = 16 * 1024

    init(endpoint: HeraldEndpoint, deadlines: ConnectionDeadlines? = nil) {
        self.endpoint = endpoint
        self.deadlines = deadlines
        self.hubPath = Array(endpoint.configuration.path.utf8)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !passedOn else {
            context.fireChannelRead(data)
            return
        }
        var input = unwrapInboundIn(data)
        if var earlier = partial {
            partial = nil
            earlier.writeImmutableBuffer(input)
            guard earlier.readableBytes >= wait else {
                partial = earlier
                return
            }
            input = earlier
        }
        var answered = false
        var waitingForBody = false
        defer {
            if answered {
                context.flush()
                deadlines?.answeredFromBytes(partial: partial != nil)
                endpoint.holdBackWhileFanOutLags(context)
            }
            if waitingForBody { deadlines?.headReceived() }
        }
        while input.readableBytes > 0 {
            let parsed = RawPublishRequest.parse(
                input,
                hubPath: hubPath,
                maxHeadSize: Self.maxHeadSize,
                maxBodySize: endpoint.configuration.maxBodySize,
                searchFrom: searchFrom
            )
            searchFrom = 0
            switch parsed {
            case .incomplete(let wait, let searchFrom):
                partial = input
                self.wait = wait
                self.searchFrom = searchFrom
                // A complete head restarts the search at 0 (an incomplete one, past its start).
                waitingForBody = searchFrom == 0 && input.readableBytes > 3
                return
            case .notFast:
                passOn(input, context: context)
                return
            case .request(let request):
                guard let id = endpoint.publishNow(request.hubRequest(hubPath: endpoint.configuration.path, peerIsLoopback: peerIsLoopback(context))) else {
                    passOn(input, context: context)
                    return
                }
                input.moveReaderIndex(forwardBy: request.length)
                context.write(wrapOutboundOut(HeraldEndpoint.publishedAnswer(id, allocator: context.channel.allocator)), promise: nil)
                answered = true
            }
        }
        if quiescing {
            // The request that was incomplete when the server began to wind down is answered.
            context.flush()
            context.close(promise: nil)
        }
    }

    /// Whether the client's address is loopback, looked up once (the channel's getter takes a
    /// lock each time).
    private func peerIsLoopback(_ context: ChannelHandlerContext) -> Bool {
        if let known = isLoopbackPeer { return known }
        let loopback = context.channel.remoteAddress?.isLoopback == true
        isLoopbackPeer = loopback
        return loopback
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !passedOn, partial != nil, event is ChannelShouldQuiesceEvent {
            quiescing = true  // held until the request in progress is complete
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partial = nil
        context.fireChannelInactive()
    }

    /// Gives `bytes` (from the start of a request) and the rest of the connection to the codec.
    private func passOn(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        passedOn = true
        context.flush()
        context.fireChannelRead(wrapInboundOut(bytes))
        if quiescing { context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
