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
    /// Whether this address is on the loopback interface (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104,
    /// or a Unix socket). Read from the address bytes: formatting the address as text first cost
    /// more than the rest of a keyless publish's authorization.
    package var isLoopback: Bool {
        switch self {
        case .v4(let address):
            // In network byte order, the first octet is the first byte in memory.
            return withUnsafeBytes(of: address.address.sin_addr) { $0[0] } == 127
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                guard bytes[0..<10].allSatisfy({ $0 == 0 }) else { return false }
                if bytes[10] == 0xFF, bytes[11] == 0xFF { return bytes[12] == 127 }  // IPv4-mapped
                return bytes[10..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1  // ::1
            }
        case .unixDomainSocket:
            return true
        }
    }
}
