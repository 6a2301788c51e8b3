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
        // The channel, not this handler's context: the handler may have left the pipeline by then.
        let channel = context.channel
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
