import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A request as the scripted server read it.
struct SeenRequest: Sendable {
    /// 0 for the first connection, then 1, 2, ...
    var connection: Int
    var requestLine: String
    /// Header names lowercased; a repeated header keeps its last value.
    var headers: [String: String]
}

/// What the scripted server does with one connection: writes each piece with its own write and
/// flush (TCP_NODELAY: one segment each), then closes or holds the connection open until the
/// client closes it.
struct Reply: Sendable {
    enum End: Sendable {
        case close
        /// Until the client closes (reported as `.clientClosed`).
        case holdOpen
        /// The server closes after this long (as a hub does when a token expires).
        case closeAfter(Duration)
    }

    var pieces: [[UInt8]]
    var end: End = .close

    /// A close-delimited `200 text/event-stream` whose body is `body`, cut at `splits` (offsets).
    static func stream(_ body: [UInt8], splits: [Int] = [], contentType: String = "text/event-stream", end: End = .close) -> Reply {
        let head = Array("HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".utf8)
        var pieces = [head]
        var start = 0
        for split in splits.sorted() where split > start && split < body.count {
            pieces.append(Array(body[start..<split]))
            start = split
        }
        if start < body.count { pieces.append(Array(body[start...])) }
        return Reply(pieces: pieces, end: end)
    }

    static func stream(_ body: String, end: End = .close) -> Reply {
        stream(Array(body.utf8), end: end)
    }

    /// A complete answer with a body and `Content-Length`, then close.
    static func status(_ line: String, contentType: String = "text/plain", body: String = "") -> Reply {
        Reply(pieces: [Array("HTTP/1.1 \(line)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)])
    }
}

/// What happened on the server, in order.
enum ServerEvent: Sendable {
    case request(SeenRequest)
    /// The client closed connection `n` (read EOF or a reset) while the server held it open.
    case clientClosed(Int)
}

/// A raw HTTP/1.1 server on a free loopback port that answers each connection as `script` says,
/// so a test controls every byte and every write boundary the client sees.
struct ScriptedServer: Sendable {
    let port: Int
    let events: AsyncStream<ServerEvent>
    var url: String { "http://127.0.0.1:\(self.port)/stream" }

    static func run<T: Sendable>(
        script: @escaping @Sendable (SeenRequest) -> Reply,
        _ body: (ScriptedServer) async throws -> T
    ) async throws -> T {
        let (events, continuation) = AsyncStream<ServerEvent>.makeStream()
        let counter = NIOLockedValueBox(0)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let port = listener.channel.localAddress?.port ?? 0
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await listener.executeThenClose { inbound in
                        for try await connection in inbound {
                            let index = counter.withLockedValue { value in
                                defer { value += 1 }
                                return value
                            }
                            connections.addTask {
                                try? await Self.serve(connection, index: index, script: script, events: continuation)
                            }
                        }
                    }
                }
            }
            defer {
                group.cancelAll()
                continuation.finish()
            }
            return try await body(ScriptedServer(port: port, events: events))
        }
    }

    private static func serve(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        index: Int,
        script: @Sendable (SeenRequest) -> Reply,
        events: AsyncStream<ServerEvent>.Continuation
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var reader = inbound.makeAsyncIterator()
            var head = ByteBuffer()
            while head.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
                guard var chunk = try await reader.next() else { return }
                head.writeBuffer(&chunk)
            }
            let request = Self.parse(String(buffer: head), connection: index)
            events.yield(.request(request))
            let reply = script(request)
            for piece in reply.pieces {
                try await outbound.write(ByteBuffer(bytes: piece))
            }
            switch reply.end {
            case .close:
                break
            case .holdOpen:
                do {
                    while try await reader.next() != nil {}
                } catch {}
                events.yield(.clientClosed(index))
            case .closeAfter(let delay):
                try await Task.sleep(for: delay)
            }
        }
    }

    private static func parse(_ head: String, connection: Int) -> SeenRequest {
        let lines = head.components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = value
        }
        return SeenRequest(connection: connection, requestLine: lines.first ?? "", headers: headers)
    }
}

extension AsyncStream<ServerEvent>.Iterator {
    /// The next request the server read (skipping other events).
    mutating func nextRequest() async -> SeenRequest? {
        while let event = await self.next() {
            if case .request(let request) = event { return request }
        }
        return nil
    }
}

extension AsyncStream<ServerEvent> {
    /// Waits until the client has closed connection `index`.
    func clientClosed(_ index: Int) async -> Bool {
        for await event in self {
            if case .clientClosed(let closed) = event, closed == index { return true }
        }
        return false
    }
}
