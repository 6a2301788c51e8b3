import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Hummingbird
import Testing

/// `.herald(endpoint)` connections start with a handler that answers plain publishes from the
/// raw bytes and passes everything else, unchanged and in order, to the HTTP codec.
@Suite struct PublishFrontHandlerTests {
    private static func publish(_ data: String, extraHeaders: String = "") -> String {
        let form = "topic=front&data=\(data)"
        return "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\(extraHeaders)"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
    }

    private static func statuses(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
    }

    @Test func aPublishArrivingInPiecesIsAnsweredFromTheBytes() async throws {
        try await TestServer.run { server in
            let client = try server.client()
            let (events, close) = try await client.subscribe(topics: ["front"])
            defer { close() }
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            let request = Array(Self.publish("pieces").utf8)
            for start in stride(from: 0, to: request.count, by: 9) {
                try await connection.send(String(decoding: request[start..<min(start + 9, request.count)], as: UTF8.self))
                try await Task.sleep(for: .milliseconds(5))
            }
            let text = try await connection.read { completeResponses($0) == 1 }
            #expect(Self.statuses(text) == ["200"])
            #expect(server.endpoint.fastPathPublishes == 1)
            #expect(try await firstEvent(events)?.data == "pieces")
        }
    }

    @Test func pipelinedRequestsAroundARouterRequestAreAnsweredInOrder() async throws {
        try await TestServer.run(mount: { router, _ in router.get("/healthz") { _, _ in "ok\n" } }) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            try await connection.send(Self.publish("1") + Self.publish("2") + health + Self.publish("3"))
            let text = try await connection.read { (completeResponses($0) ?? 0) >= 4 }
            #expect(Self.statuses(text) == ["200", "200", "200", "200"])
            let bodies = text.components(separatedBy: "\r\n\r\n").dropFirst().map { $0.prefix(9) }
            #expect(bodies == ["urn:uuid:", "urn:uuid:", "ok\nHTTP/1", "urn:uuid:"])
            #expect(server.endpoint.fastPathPublishes >= 2)
            let data = server.hub.statistics.historyCount
            #expect(data == 3)
        }
    }

    @Test func aChunkedPublishIsLeftToTheCodecAndTheConnectionGoesOn() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            let form = "topic=front&data=chunked"
            let chunked = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(form.utf8.count, radix: 16) + "\r\n\(form)\r\n0\r\n\r\n"
            try await connection.send(chunked)
            var text = try await connection.read { completeResponses($0) == 1 }
            #expect(Self.statuses(text) == ["200"])
            // Decoded by the codec, then still answered on the loop by the handler behind it.
            #expect(server.endpoint.fastPathPublishes == 1)
            try await connection.send(Self.publish("plain"))
            text = try await connection.read { completeResponses($0) == 2 }
            #expect(Self.statuses(text) == ["200", "200"])
            #expect(server.endpoint.fastPathPublishes == 2)
            #expect(server.hub.statistics.historyCount == 2)
        }
    }

    @Test func badBytesGetTheCodecsAnswer() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send(Self.publish("x", extraHeaders: "X-Bad: a\u{1}b\r\n"))
            let text = try await connection.readToClose()
            #expect(text.hasPrefix("HTTP/1.1 400 "))
            #expect(server.hub.statistics.historyCount == 0)
            #expect(server.endpoint.fastPathPublishes == 0)
        }
    }

    @Test func aPublishTheHubRefusesGetsTheRoutersReason() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            let form = "topic=front&id=a%0Ab"
            try await connection.send(
                "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: \(form.utf8.count)\r\n\r\n\(form)" + Self.publish("after")
            )
            let text = try await connection.read { completeResponses($0) == 2 }
            #expect(Self.statuses(text) == ["400", "200"])
            #expect(text.contains("\r\n\r\nid must not contain CR, LF or NUL\n"))
            #expect(server.hub.statistics.historyCount == 1)
        }
    }
}

/// With a tiny fan-out bound, publish connections are paused and resumed again and again; every
/// publish is still answered, delivered once and in order.
@Suite struct PublishBackpressureTests {
    @Test(arguments: [TestServer.Pipeline.herald, .publishHandler])
    func pipelinedPublishesUnderATinyBoundAllArriveInOrder(pipeline: TestServer.Pipeline) async throws {
        var hub = HubConfiguration()
        hub.maxFanOutBacklog = 1
        try await TestServer.run(hub: hub, pipeline: pipeline) { server in
            let client = try server.client()
            let (events, close) = try await client.subscribe(topics: ["bp"])
            defer { close() }
            try await waitUntil { server.hub.statistics.subscribers == 1 }
            let count = 300
            var requests = ""
            for index in 0..<count {
                let form = "topic=bp&data=\(index)"
                requests += "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
            }
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(requests)
            let text = try await connection.read { $0.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == count }
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == count)
            var received: [String] = []
            for try await element in events {
                if case .event(let event) = element { received.append(event.data) }
                if received.count == count { break }
            }
            #expect(received == (0..<count).map(String.init))
        }
    }
}
