import HeraldHub
import NIOCore

extension HeraldEndpoint {
    /// After a publish answered on the event loop: while the hub's fan-out is backlogged, stop
    /// reading this connection (TCP then slows the publisher down) and read again once the
    /// shards have caught up. The answer already went out; only the next request waits.
    func holdBackWhileFanOutLags(_ context: ChannelHandlerContext) {
        holdBackWhileFanOutLags(context.channel)
    }

    /// The same for `channel` (called on its loop): for a publish in an HTTP/2 stream, the
    /// connection the stream belongs to (pausing the stream, which has ended, would hold back
    /// nothing: the publisher's next POST is a new stream).
    func holdBackWhileFanOutLags(_ channel: any Channel) {
        guard hub.isFanOutBacklogged, let options = channel.syncOptions,
            (try? options.getOption(.autoRead)) == true
        else { return }
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
