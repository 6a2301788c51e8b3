import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Guards a listening socket: caps the connections open at once and survives running out of
/// file descriptors.
///
/// - Past `maxConnections` a new connection is closed as soon as it is accepted (the client
///   sees the connection end at once, rather than waiting in the kernel's backlog), and the
///   connections already open are served as before.
/// - When `accept` fails for want of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
///   `ENOMEM`), the listener stops reading for `backoff` and tries again. On Linux a pending
///   connection keeps the socket readable, and NIO keeps its read registered after a failed
///   accept, so without this the event loop retries `accept` in a tight loop for as long as
///   the descriptors are short (NIO's own `AcceptBackoffHandler` only delays the next read,
///   which never comes).
///
/// Install it with `HeraldEndpoint.guardAccepts(on:)` from `onServerRunning`.
final class AcceptGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let maxConnections: Int
    private let backoff: TimeAmount
    /// Connections open now: counted up here (on the listener's loop), down by each
    /// connection's close, on its own loop.
    private let open = OpenConnections()
    private var resume: Scheduled<Void>?

    init(maxConnections: Int, backoff: TimeAmount = .milliseconds(100)) {
        self.maxConnections = maxConnections
        self.backoff = backoff
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        guard open.count.load(ordering: .relaxed) < maxConnections else {
            // Not registered yet: closing it only releases the socket.
            child.close(promise: nil)
            return
        }
        open.count.add(1, ordering: .relaxed)
        // The callback captures one class reference and nothing else, so Swift allocates no
        // closure context for it: every connection pays for this callback while it lives (an
        // idle stream's memory is such fixed costs), and a close needs no hop to this loop.
        let open = self.open
        child.closeFuture.whenComplete { _ in open.closed() }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, Self.isShortOfResources(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        pause(context: context)
    }

    func read(context: ChannelHandlerContext) {
        // Held while backing off: a read would register the socket for readability again.
        if resume == nil { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    /// Stops accepting for `backoff`, then tries again (and pauses again if still short).
    private func pause(context: ChannelHandlerContext) {
        guard resume == nil else { return }
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        let handlerContext = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        resume = context.eventLoop.scheduleTask(in: backoff) {
            let (handler, context) = handlerContext.value
            handler.resume = nil
            guard context.channel.isActive else { return }
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    static func isShortOfResources(_ code: CInt) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    /// The default cap: the soft limit on open files minus a reserve for everything else the
    /// process opens (the listener, Redis, logs, files read at request time).
    static func defaultMaxConnections(reserve: Int = 64) -> Int {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 - reserve }
        // RLIM_INFINITY is the largest value: clamping covers it.
        let soft = min(Int(clamping: limit.rlim_cur), Int(Int32.max))
        return max(1, soft - reserve)
    }
}

/// The open-connection count of one listener (shared by the listener and its connections).
final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)

    func closed() {
        count.subtract(1, ordering: .relaxed)
    }
}

extension HeraldEndpoint {
    /// Guards a server's listening channel (pass the channel `onServerRunning` gives): at most
    /// `configuration.maxConnections` connections at once (more are closed when accepted), and
    /// a short pause instead of a busy loop when the process runs out of file descriptors.
    /// `herald serve` does this; embedders call it from `Application(onServerRunning:)`.
    public func guardAccepts(on serverChannel: any Channel) async throws {
        let maxConnections = configuration.maxConnections ?? AcceptGuard.defaultMaxConnections()
        try await serverChannel.eventLoop.submit {
            try serverChannel.pipeline.syncOperations.addHandler(
                AcceptGuard(maxConnections: maxConnections),
                position: .first
            )
        }.get()
    }
}
