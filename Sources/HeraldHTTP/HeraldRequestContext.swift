import Hummingbird
import NIOCore

/// A request context that exposes its connection, so that a stream is released the moment its
/// client disconnects (instead of at the next heartbeat) and presence updates promptly.
public protocol ConnectionRequestContext: RequestContext {
    /// The connection the request arrived on.
    var channel: any Channel { get }
}

/// A request context with what Herald's routes use: the client's address (keyless publishing is
/// loopback only) and the connection (prompt disconnect). Use it as your router's context, or
/// conform your own to `RemoteAddressRequestContext` and `ConnectionRequestContext`.
public struct HeraldRequestContext: RequestContext, RemoteAddressRequestContext, ConnectionRequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on.
    public let channel: any Channel
    /// The connected client's address.
    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension SocketAddress {
    /// Whether this address is on the loopback interface (127.0.0.0/8, ::1, or a Unix socket).
    var isLoopback: Bool {
        switch self {
        case .v4(let address):
            _ = address
            return self.ipAddress?.hasPrefix("127.") == true
        case .v6:
            guard let ip = self.ipAddress else { return false }
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        case .unixDomainSocket:
            return true
        }
    }
}
