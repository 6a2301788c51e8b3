import HeraldHub
import NIOCore

extension HeraldEndpoint {
    /// After a publish answered on the event loop: while the hub's fan-out is backlogged, stop
    /// reading this connection (TCP then slows the publisher down) and read again once the
    /// shards have caught up. The answer already went out; only the next request waits.
    func holdBackWhileFanOutLags(_ context: ChannelHandlerContext) {
        guard hub.isFanOutBacklogged, let options = context.channel.syncOptions,
            (try? options.getOption(.autoRead)) == true
        else { return }
        do {
            try options.setOption(.autoRead, value: false)
        } catch {
            return
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        let waiting = hub.whenFanOutCatchesUp {
            loop.execute { Self.resumeReading(bound.value) }
        }
        if !waiting { Self.resumeReading(context) }
    }

    private static func resumeReading(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: true)
        context.read()
    }
}
