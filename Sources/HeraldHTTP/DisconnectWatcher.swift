import NIOCore

/// Sits at the front of a streaming connection's pipeline and reports the moment the client
/// goes away (input closed or connection inactive), so its subscription ends at once rather
/// than at the next failed write. Forwards every event unchanged.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private let onDisconnect: @Sendable () -> Void

    init(onDisconnect: @escaping @Sendable () -> Void) {
        self.onDisconnect = onDisconnect
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { onDisconnect() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        onDisconnect()
        context.fireChannelInactive()
    }

    /// Installs a watcher on `channel`; returns a function that removes it again.
    static func watch(_ channel: any Channel, onDisconnect: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let watcher = DisconnectWatcher(onDisconnect: onDisconnect)
        channel.eventLoop.execute {
            guard channel.isActive else {
                onDisconnect()
                return
            }
            try? channel.pipeline.syncOperations.addHandler(watcher, position: .first)
        }
        return {
            channel.eventLoop.execute {
                channel.pipeline.removeHandler(watcher, promise: nil)
            }
        }
    }
}
