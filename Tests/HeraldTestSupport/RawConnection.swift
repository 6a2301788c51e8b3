import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A bare TCP connection to a test server: send bytes as written, collect what comes back,
/// and see when the server closes it. For what an HTTP client library would hide (pipelining,
/// chunk framing, the connection's end).
public final class RawConnection: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    private let received = NIOLockedValueBox("")
    private let closedByPeer = NIOLockedValueBox(false)
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    public static func open(port: Int) async throws -> RawConnection {
        let connection = RawConnection()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        connection.channel.withLockedValue { $0 = channel }
        return connection
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.withLockedValue { $0 += String(buffer: buffer) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closedByPeer.withLockedValue { $0 = true }
    }

    public func send(_ text: String) async throws {
        guard let channel = channel.withLockedValue({ $0 }) else { return }
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Everything received so far.
    public var text: String { received.withLockedValue { $0 } }

    /// Whether the connection has closed.
    public var isClosed: Bool { closedByPeer.withLockedValue { $0 } }

    /// Waits (up to 5 s) until `done` holds for everything received so far, and returns it.
    public func read(until done: (String) -> Bool) async throws -> String {
        try await waitUntil { done(text) }
        return text
    }

    /// Waits (up to 5 s) for the server to close the connection; returns all it sent.
    public func readToClose() async throws -> String {
        try await waitUntil { isClosed }
        return text
    }

    public func close() {
        channel.withLockedValue { $0 }?.close(promise: nil)
    }
}

/// How many complete HTTP/1.1 responses with a `Content-Length` body `text` holds, counted from
/// its start: nil when the last one is not complete yet. Answers now end exactly where their
/// body ends (a publish's id has no newline), so this is how a test knows one has arrived.
public func completeResponses(_ text: String) -> Int? {
    var rest = Substring(text)
    var count = 0
    while !rest.isEmpty {
        guard let headEnd = rest.range(of: "\r\n\r\n") else { return nil }
        let head = rest[..<headEnd.lowerBound].lowercased()
        var length = 0
        if let field = head.range(of: "\r\ncontent-length: ") {
            length = Int(head[field.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        let body = rest.utf8[headEnd.upperBound...]
        guard body.count >= length else { return nil }
        rest = Substring(body.dropFirst(length))
        if !head.hasPrefix("http/1.1 1") { count += 1 }  // an interim 100 is not an answer
    }
    return count
}
