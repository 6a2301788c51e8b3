@testable import HeraldHTTP
import NIOCore
import Testing

/// Keyless publishing is allowed from loopback only, so the check must be exact.
@Suite struct LoopbackAddressTests {
    @Test(arguments: ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "::ffff:127.3.2.1"])
    func loopbackAddressesAreLoopback(ip: String) throws {
        #expect(try SocketAddress(ipAddress: ip, port: 80).isLoopback)
    }

    @Test(arguments: [
        "128.0.0.1", "10.0.0.1", "0.0.0.0", "1.127.0.0", "::", "::2", "::101", "1::1", "fe80::1",
        "::ffff:10.0.0.1", "::fffe:127.0.0.1", "::127.0.0.1", "2001:db8::1",
    ])
    func otherAddressesAreNot(ip: String) throws {
        #expect(try !SocketAddress(ipAddress: ip, port: 80).isLoopback)
    }

    @Test func unixSocketsAreLocal() throws {
        #expect(try SocketAddress(unixDomainSocketPath: "/tmp/herald.sock").isLoopback)
    }
}
