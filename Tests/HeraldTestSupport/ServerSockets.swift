#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Foundation

/// The server side of a test server's connections, as the kernel sees them (Linux).
public enum ServerSockets {
    /// How many file descriptors of this process are sockets of connections accepted on
    /// `port` (not the listener): what a server that leaks connections never gives back.
    public static func openCount(port: Int) -> Int {
        let inodes = connectionInodes(port: port)
        guard !inodes.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else {
            return 0
        }
        var count = 0
        for entry in entries {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry),
                target.hasPrefix("socket:["), let inode = Int(target.dropFirst(8).dropLast())
            else { continue }
            if inodes.contains(inode) { count += 1 }
        }
        return count
    }

    /// Of those, how many the client has closed and the server has not (`CLOSE_WAIT`).
    public static func closeWaitCount(port: Int) -> Int {
        entries(port: port).filter { $0.state == 0x08 }.count
    }

    /// The inodes of sockets whose local port is `port`, other than the listener.
    private static func connectionInodes(port: Int) -> Set<Int> {
        Set(entries(port: port).filter { $0.state != 0x0A }.map(\.inode))
    }

    private static func entries(port: Int) -> [(state: Int, inode: Int)] {
        var found: [(Int, Int)] = []
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, let colon = fields[1].lastIndex(of: ":"),
                    Int(fields[1][fields[1].index(after: colon)...], radix: 16) == port,
                    let state = Int(fields[3], radix: 16), let inode = Int(fields[9])
                else { continue }
                found.append((state, inode))
            }
        }
        return found
    }
}

/// A blocking loopback TCP socket for tests that open and close many connections quickly.
public final class BlockingSocket: Sendable {
    public let fd: Int32

    /// Connects to 127.0.0.1:`port`; receives time out after `timeout` seconds.
    public init(port: Int, timeout: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        var wait = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw SocketError(call: "connect")
        }
    }

    deinit { Glibc.close(fd) }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            sent += written
        }
    }

    /// Closes the sending side (the server sees input closed, as after `curl` is done).
    public func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads until `done` holds for what arrived, the server closes, or the timeout; returns it.
    @discardableResult
    public func receive(until done: (String) -> Bool = { _ in false }) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
            if done(String(decoding: received, as: UTF8.self)) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server closed the connection (a read sees the end) within the timeout.
    public func receivesEnd() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }
}

public struct SocketError: Error {
    public let call: String
    public let code = errno
}

/// Runs blocking socket work on a Dispatch thread: blocking the Swift concurrency pool (two
/// threads on a small machine) would also stop the server's own tasks (Hummingbird takes new
/// connections in a task), and the test would wait on itself.
public func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
