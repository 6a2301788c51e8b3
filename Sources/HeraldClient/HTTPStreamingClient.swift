import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSentEvents

/// A response whose body arrives as a stream of buffers (an SSE stream never ends by itself).
public struct StreamingResponse: Sendable {
    /// The status code.
    public let status: HTTPResponseStatus
    /// The response headers.
    public let headers: HTTPHeaders
    /// The body, chunk by chunk; finishes when the server ends the response or closes.
    public let body: AsyncThrowingStream<ByteBuffer, any Error>
    /// Closes the connection (ends an endless stream).
    public let close: @Sendable () -> Void

    /// The body parsed as `text/event-stream`: events, comments and retry hints. Ending the
    /// iteration closes the connection.
    public var events: AsyncThrowingStream<ServerSentEventParser.Element, any Error> {
        let body = self.body
        let close = self.close
        return AsyncThrowingStream { continuation in
            let task = Task {
                var parser = ServerSentEventParser()
                do {
                    for try await chunk in body {
                        for element in try parser.feed(chunk) { continuation.yield(element) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                task.cancel()
                close()
            }
        }
    }

    /// Reads the whole body, up to `limit` bytes, as UTF-8 text.
    public func text(limit: Int = 1 << 20) async throws -> String {
        var collected = ByteBuffer()
        for try await chunk in body {
            var chunk = chunk
            collected.writeBuffer(&chunk)
            if collected.readableBytes > limit { throw HeraldClientError.bodyTooLarge }
        }
        return String(buffer: collected)
    }
}

/// Errors of the Herald client.
public enum HeraldClientError: Error, Hashable, CustomStringConvertible {
    /// The URL is not `http://host[:port][/path]`.
    case invalidURL(String)
    /// The server answered with an unexpected status; `body` is its text.
    case status(Int, String)
    /// The connection closed before a response head arrived.
    case noResponse
    /// A body was larger than the caller's limit.
    case bodyTooLarge

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid URL: \(url) (expected http://host[:port][/path])"
        case .status(let code, let body): "HTTP \(code): \(String(body.reversed().drop(while: \.isWhitespace).reversed()))"
        case .noResponse: "connection closed before a response"
        case .bodyTooLarge: "response body too large"
        }
    }
}

/// A minimal HTTP/1.1 client on SwiftNIO: one request per connection, body streamed. Enough
/// for the CLI, tests and load generation without pulling in a full HTTP client.
public struct HTTPStreamingClient: Sendable {
    /// Where requests go.
    public let host: String
    /// The server's port.
    public let port: Int
    /// Path prefix from the base URL (no trailing slash).
    public let basePath: String
    let group: any EventLoopGroup

    /// Creates a client for `baseURL` (`http://host:port[/prefix]`).
    public init(baseURL: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard baseURL.hasPrefix("http://") else { throw HeraldClientError.invalidURL(baseURL) }
        let rest = baseURL.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        let host: Substring
        let port: Int
        if authority.hasPrefix("[") {  // [::1]:8080
            guard let close = authority.firstIndex(of: "]") else { throw HeraldClientError.invalidURL(baseURL) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : 80
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = authority
            port = 80
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw HeraldClientError.invalidURL(baseURL) }
        self.host = String(host)
        self.port = port
        self.basePath = path
        self.group = eventLoopGroup
    }

    /// Sends one request and returns once the response head arrived.
    public func send(
        method: HTTPMethod,
        path: String,
        headers: HTTPHeaders = [:],
        body: ByteBuffer? = nil
    ) async throws -> StreamingResponse {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let headPromise = group.next().makePromise(of: HTTPResponseHead.self)
        // The handlers go in before the connection is up, so that a server closing it at once
        // (at its connection limit, say) still fails the promise instead of leaking it.
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            ResponseStreamHandler(head: headPromise, continuation: continuation)
                        )
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            headPromise.fail(error)
            continuation.finish(throwing: error)
            throw error
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: basePath + path)
        head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        head.headers.add(contentsOf: headers)
        if let body { head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.readableBytes)") }

        continuation.onTermination = { _ in channel.close(promise: nil) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let responseHead = try await headPromise.futureResult.get()
        return StreamingResponse(
            status: responseHead.status,
            headers: responseHead.headers,
            body: stream,
            close: { channel.close(promise: nil) }
        )
    }
}

/// Forwards a response's head to a promise and its body parts to a stream.
private final class ResponseStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let head: EventLoopPromise<HTTPResponseHead>
    private let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    private var sawHead = false

    init(head: EventLoopPromise<HTTPResponseHead>, continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation) {
        self.head = head
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            sawHead = true
            head.succeed(responseHead)
        case .body(let buffer):
            continuation.yield(buffer)
        case .end:
            continuation.finish()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !sawHead { head.fail(HeraldClientError.noResponse) }
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !sawHead { head.fail(error) }
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
