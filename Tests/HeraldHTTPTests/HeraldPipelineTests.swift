import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Hummingbird
import Testing

/// `.herald(endpoint)` connections: hub requests answered before any router exists, the
/// router set up mid-connection when a request needs it, streams that shed the HTTP codec.
@Suite struct HeraldPipelineTests {
    private static let subscribe = "GET /.well-known/mercure?topic=raw HTTP/1.1\r\nHost: x\r\n\r\n"
    private static let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    private static func publish(_ data: String) -> String {
        let form = "topic=raw&data=\(data)"
        return "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
    }

    private static func mountHealth(_ router: Router<HeraldRequestContext>, _: HeraldEndpoint) {
        router.get("/healthz") { _, _ in "ok\n" }
    }

    @Test func aStreamIsChunkedAndEndsWithTheNoticeAndTheLastChunkOnShutdown() async throws {
        var hub = HubConfiguration()
        hub.retryHint = 2500
        let raw = try await RawConnectionBox()
        try await TestServer.run(hub: hub) { server in
            let connection = try await raw.open(port: server.port)
            try await connection.send(Self.subscribe)
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            _ = try await post(server, body: "topic=raw&data=one")
            let text = try await connection.read { $0.contains("data: one") }
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.lowercased().contains("transfer-encoding: chunked\r\n"))
            #expect(text.contains("Content-Type: text/event-stream\r\n"))
            // Each event is one chunk: hex size, CRLF, the event, CRLF.
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            #expect(body.hasPrefix("d\r\nretry: 2500\n\n\r\n"))
            #expect(body.contains("\r\n3d\r\nid: urn:uuid:") && body.contains("\ndata: one\n\n\r\n"))
        }
        let connection = try #require(raw.connection)
        let text = try await connection.readToClose()
        #expect(connection.isClosed)
        #expect(text.contains("\r\n2a\r\n: herald: shutting down, please reconnect\n\r\n"))
        #expect(text.hasSuffix("\r\n0\r\n\r\n"))
    }

    @Test func theRouterTakesOverMidConnectionAndPublishesStayFast() async throws {
        try await TestServer.run(mount: Self.mountHealth) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(Self.publish("a"))
            let first = try await connection.read { completeResponses($0) == 1 }
            let answer = try Regex(
                "^HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n"
                    + "Content-Length: 45\r\n\r\nurn:uuid:[0-9a-f-]{36}$"
            )
            #expect(first.wholeMatch(of: answer) != nil, "\(first)")
            #expect(server.endpoint.fastPathPublishes == 1)
            // Pipelined behind a router request: the router answers all three, in order.
            try await connection.send(Self.health + Self.publish("b") + Self.publish("c"))
            var text = try await connection.read { $0.components(separatedBy: "HTTP/1.1 ").count - 1 >= 4 }
            #expect(text.contains("\r\n\r\nok\n"))
            #expect(server.endpoint.fastPathPublishes == 1)
            // With nothing pending, a publish is answered here again though the router joined.
            try await connection.send(Self.publish("d"))
            text = try await connection.read { $0.components(separatedBy: "HTTP/1.1 ").count - 1 >= 5 }
            let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            #expect(statuses == ["200", "200", "200", "200", "200"])
            #expect(server.hub.statistics.historyCount == 4)
            #expect(server.endpoint.fastPathPublishes == 2)
            #expect(!connection.isClosed)
        }
    }

    @Test func aRefusedSubscribeIsAnsweredAndTheConnectionGoesOn() async throws {
        try await TestServer.run(mount: Self.mountHealth) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send("GET /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\r\n" + Self.health)
            let text = try await connection.read { $0.contains("ok\n") }
            let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            #expect(statuses == ["400", "200"])
            #expect(text.contains("\r\n\r\nmissing topic\n"))
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test func aMalformedRequestGets400AndTheServerGoesOn() async throws {
        try await TestServer.run(mount: Self.mountHealth) { server in
            let bad = try await RawConnection.open(port: server.port)
            try await bad.send("NOT HTTP AT ALL\r\n\r\n")
            let text = try await bad.readToClose()
            #expect(text.hasPrefix("HTTP/1.1 400 "))
            #expect(bad.isClosed)
            let (status, body) = try await get(server, "/healthz")
            #expect(status == 200 && body == "ok\n")
        }
    }

    @Test func aClientLeavingEndsItsSubscription() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send(Self.subscribe)
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            #expect(server.hub.statistics.subscribers == 1)
            connection.close()
            try await waitUntil { server.hub.statistics.subscribers == 0 }
            #expect(server.hub.statistics.subscribers == 0)
        }
    }

    @Test func bytesSentAfterTheSubscribeAreIgnored() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(Self.subscribe)
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            try await connection.send("GARBAGE\r\n\r\n" + Self.publish("ignored"))
            _ = try await post(server, body: "topic=raw&data=live")
            let text = try await connection.read { $0.contains("data: live") }
            #expect(!text.contains("ignored"))
            // No answer to the garbage (a bare "400" could be part of a random event id).
            #expect(!text.contains("HTTP/1.1 400"))
            #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2)
            #expect(server.hub.statistics.historyCount == 1)
            #expect(!connection.isClosed)
        }
    }
}

/// Keeps a connection opened inside `TestServer.run` for checks after the server stopped.
private final class RawConnectionBox: @unchecked Sendable {
    var connection: RawConnection?

    init() async throws {}

    func open(port: Int) async throws -> RawConnection {
        let connection = try await RawConnection.open(port: port)
        self.connection = connection
        return connection
    }
}
