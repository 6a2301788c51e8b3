import HeraldHub
import NIOCore

extension HeraldEndpoint {
    /// After a publish answered on the event loop: while the hub's fan-out is backlogged, stop
    /// reading this connection (TCP then slows the publisher down) and read again once the
    /// shards have caught up. The answer already went out; only the next request waits.
    ///
    /// `framing` is the channel's: in an HTTP/2 stream channel (`.http2`) the publisher's next
    /// POST is a stream of its own, so the connection's reads are held instead
    /// (`HTTP2ReadGate`), with every stream on it, until the fan-out has caught up.
    func holdBackWhileFanOutLags(_ context: ChannelHandlerContext, framing: HubChannelHandler.Framing = .http1) {
        guard hub.isFanOutBacklogged else { return }
        switch framing {
        case .http1:
            holdBack(context.channel)
        case .http2:
            guard let connection = context.channel.parent,
                let gate = try? connection.pipeline.syncOperations.handler(type: HTTP2ReadGate.self)
            else { return }
            gate.hold(until: hub)
        }
    }

    /// An HTTP/1 connection: its reads stop with `autoRead` (nothing else asks it to read).
    private func holdBack(_ channel: any Channel) {
        guard let options = channel.syncOptions, (try? options.getOption(.autoRead)) == true else { return }
        do {
            try options.setOption(.autoRead, value: false)
        } catch {
            return
        }
        // The channel, not a handler's context: the handler may have left the pipeline by then.
        let waiting = hub.whenFanOutCatchesUp {
            channel.eventLoop.execute { Self.resumeReading(channel) }
        }
        if !waiting { Self.resumeReading(channel) }
    }

    private static func resumeReading(_ channel: any Channel) {
        guard channel.isActive, let options = channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: true)
        channel.read()
    }
}

/// Holds an HTTP/2 connection's reads while the hub's fan-out lags behind a publisher on it
/// (`HeraldEndpoint.holdBackWhileFanOutLags`). Turning `autoRead` off is not enough there: each
/// stream channel asks its connection to read once it has taken its frames, so a publisher's
/// every stream would read on. Every read asked for passes here (on the connection's loop) and
/// waits while the gate is held; one read goes on when it is released.
final class HTTP2ReadGate: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var context: ChannelHandlerContext?
    private var held = false
    private var readWanted = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if held {
            readWanted = true
        } else {
            context.read()
        }
    }

    /// Holds the connection's reads until `hub` is no longer backlogged (at once when it is not).
    func hold(until hub: Hub) {
        guard !held, let context else { return }
        held = true
        let eventLoop = context.eventLoop
        let gate = NIOLoopBound(self, eventLoop: eventLoop)
        let waiting = hub.whenFanOutCatchesUp {
            eventLoop.execute { gate.value.release() }
        }
        if !waiting { release() }
    }

    private func release() {
        guard held else { return }
        held = false
        guard readWanted, let context else { return }
        readWanted = false
        context.read()
    }
}
