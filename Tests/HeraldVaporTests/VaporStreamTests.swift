#if Vapor
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import HeraldVapor
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServerSentEvents
import Testing
import Vapor

/// Streams through `app.herald`: written by the hub's shard into Vapor's response (no task per
/// subscriber), ended when the client leaves, dropped when it stops reading, and closed with
/// the hub's notice when the app shuts down.
@Suite(.serialized)
struct VaporStreamTests {
    static func subscribe(_ port: Int, _ target: String) async throws -> RawConnection {
        let connection = try await RawConnection.open(port: port)
        try await connection.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        _ = try await connection.read { $0.contains("\r\n\r\n") }
        return connection
    }

    static func publish(_ port: Int, _ form: String) async throws -> String {
        let connection = try await RawConnection.open(port: port)
        defer { connection.close() }
        let request = PipelineTable.post(form).replacingOccurrences(of: "Host: hub.example", with: "Host: 127.0.0.1")
        try await connection.send(request)
        let text = try await connection.read { (completeResponses($0) ?? 0) >= 1 }
        return String(text[text.range(of: "\r\n\r\n")!.upperBound...])
    }

    @Test func eventsReachTheStreamReplayedThenLive() async throws {
        try await VaporTestApp.run { app, _ in
            #expect(try await Self.publish(app.port, "topic=t&data=old&id=e1") == "e1")
            let stream = try await Self.subscribe(app.port, "/.well-known/mercure?topic=t&lastEventID=earliest")
            defer { stream.close() }
            #expect(stream.text.contains("Content-Type: text/event-stream") || stream.text.lowercased().contains("content-type: text/event-stream"))
            _ = try await stream.read { $0.contains("id: e1\n") }
            #expect(try await Self.publish(app.port, "topic=t&data=new&id=e2") == "e2")
            let text = try await stream.read { $0.contains("id: e2\n") }
            #expect(text.contains("data: old\n") && text.contains("data: new\n"))
            // The shard wrote it: the request's loop is one of the hub's (both `.singleton`).
            #expect(app.hub.statistics.subscribers == 1)
        }
    }

    @Test func aClientThatLeavesIsForgottenWithinAHeartbeat() async throws {
        var hub = HubConfiguration()
        hub.heartbeatInterval = .milliseconds(100)
        try await VaporTestApp.run(hub: hub) { app, _ in
            let stream = try await Self.subscribe(app.port, "/.well-known/mercure?topic=t")
            try await waitUntil { app.hub.statistics.subscribers == 1 }
            #expect(app.hub.statistics.subscribers == 1)
            stream.close()
            try await waitUntil { app.hub.statistics.subscribers == 0 }
            #expect(app.hub.statistics.subscribers == 0)
        }
    }

    @Test func aSubscriberThatStopsReadingIsDroppedAndItsConnectionClosed() async throws {
        var hub = HubConfiguration()
        hub.maxQueuedBytes = 256 * 1024
        try await VaporTestApp.run(hub: hub) { app, _ in
            let stalled = try await StalledClient.open(port: app.port, request: "GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            defer { stalled.close() }
            try await waitUntil { app.hub.statistics.subscribers == 1 }
            let data = String(repeating: "x", count: 32 * 1024)
            // Loopback buffers take a few MB; the bound is passed well before 40 MB.
            var published = 0
            while app.hub.statistics.dropped == 0, published < 1280 {
                _ = try await Self.publish(app.port, "topic=t&data=\(data)")
                published += 1
            }
            #expect(app.hub.statistics.dropped == 1, "after \(published) publishes")
            try await waitUntil { app.hub.statistics.subscribers == 0 }
            #expect(app.hub.statistics.subscribers == 0)
            // Vapor closes the connection on the body's error (as the other transports do).
            try await stalled.resumeReading()
            try await waitUntil(timeout: .seconds(10)) { stalled.isClosed }
            #expect(stalled.isClosed)
        }
    }

    @Test func shuttingTheAppDownEndsStreamsWithTheHubsNotice() async throws {
        try await VaporTestApp.run { app, application in
            let stream = try await Self.subscribe(app.port, "/.well-known/mercure?topic=t")
            defer { stream.close() }
            try await waitUntil { app.hub.statistics.subscribers == 1 }
            try await application.asyncShutdown()
            let text = try await stream.read { $0.contains("0\r\n\r\n") }
            #expect(text.contains(": herald: shutting down, please reconnect"))
        }
    }

    @Test func theOneRouteHelperStreamsWithTheRightHeadersAndStopsWhenTheClientLeaves() async throws {
        let (events, continuation) = AsyncStream<ServerSentEvent>.makeStream()
        let ended = NIOLockedValueBox(false)
        continuation.onTermination = { _ in ended.withLockedValue { $0 = true } }
        try await VaporTestApp.run(routes: { app in
            app.get("clock") { _ in Response.serverSentEvents(events, heartbeat: .milliseconds(50)) }
        }) { app, _ in
            let connection = try await RawConnection.open(port: app.port)
            try await connection.send("GET /clock HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            continuation.yield(ServerSentEvent(data: "one", id: "1"))
            continuation.yield(ServerSentEvent(data: "two\nlines"))
            let text = try await connection.read { $0.contains("data: lines\n") }
            let head = text[..<text.range(of: "\r\n\r\n")!.lowerBound].lowercased()
            #expect(head.hasPrefix("http/1.1 200"))
            #expect(head.contains("content-type: text/event-stream"))
            #expect(head.contains("cache-control: no-cache"))
            #expect(head.contains("x-accel-buffering: no"))
            #expect(text.contains("id: 1\ndata: one\n\n"))
            #expect(text.contains("data: two\ndata: lines\n\n"))
            // A quiet stream gets heartbeats.
            _ = try await connection.read { $0.contains(":\n") }
            #expect(connection.text.contains("\r\n:\n"))
            // The client leaves: the next heartbeat fails and iterating the events is cancelled.
            connection.close()
            try await waitUntil { ended.withLockedValue { $0 } }
            #expect(ended.withLockedValue { $0 })
        }
    }
}

/// A client that sends a request and then never reads: its socket buffers fill up.
final class StalledClient: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let channel: NIOLockedValueBox<(any Channel)?> = NIOLockedValueBox(nil)
    private let closed = NIOLockedValueBox(false)

    static func open(port: Int, request: String) async throws -> StalledClient {
        let client = StalledClient()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        client.channel.withLockedValue { $0 = channel }
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        return client
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.withLockedValue { $0 = true }
    }

    /// Starts reading (and dropping) what the server sent: only a read sees the server's close.
    func resumeReading() async throws {
        try await channel.withLockedValue { $0 }?.setOption(.autoRead, value: true).get()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    /// Whether the server closed the connection (seen once reading resumed).
    var isClosed: Bool { closed.withLockedValue { $0 } }

    func close() {
        channel.withLockedValue { $0 }?.close(promise: nil)
    }
}
#endif
