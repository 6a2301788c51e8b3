import Hummingbird
import NIOCore

/// A request context that records the client's address, which keyless publishing (loopback
/// only) needs. Use it as your router's context, or conform your own to `RemoteAddressRequestContext`.
public struct HeraldRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The connected client's address.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
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
