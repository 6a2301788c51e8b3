import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Hummingbird
import Testing

/// Requests refused from their head are answered before their body is read, and the same
/// request gets the same answer whichever path (event-loop handlers or router) reads it.
@Suite struct EarlyAnswerTests {
    private static let pipelines: [TestServer.Pipeline] = [.herald, .publishHandler, .router]

    private static func status(_ text: String) -> String {
        String(text.dropFirst("HTTP/1.1 ".count).prefix(3))
    }

    private static func body(_ text: String) -> String {
        guard let end = text.range(of: "\r\n\r\n") else { return "" }
        return String(text[end.upperBound...])
    }

    @Test func aDeclaredBodyOverTheLimitIs413BeforeItIsSent() async throws {
        var http = HeraldHTTPConfiguration()
        http.maxBodySize = 1000
        try await TestServer.run(http: http) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(
                "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: 100000000\r\n\r\n"
            )
            // Not a byte of the body sent: the answer comes anyway, and the connection ends.
            let text = try await connection.readToClose()
            #expect(Self.status(text) == "413")
            #expect(text.contains("Connection: close\r\n"))
            #expect(Self.body(text) == "body larger than 1000 bytes\n")
        }
    }

    @Test func expectContinueGetsContinueThenTheAnswer() async throws {
        try await TestServer.run { server in
            let form = "topic=expect&data=x"
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(
                "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n"
            )
            let interim = try await connection.read { $0.contains("\r\n\r\n") }
            #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n")
            try await connection.send(form)
            let text = try await connection.read { $0.contains("urn:uuid:") }
            #expect(text.dropFirst(interim.count).hasPrefix("HTTP/1.1 200 OK\r\n"))
        }
    }

    @Test func expectContinueGetsTheRefusalEarly() async throws {
        var http = HeraldHTTPConfiguration()
        http.maxBodySize = 10
        http.publisherKey = HeraldKey("0123456789abcdef0123456789abcdef")
        try await TestServer.run(http: http) { server in
            let cases: [(headers: String, status: String)] = [
                ("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\nAuthorization: Bearer x\r\n", "413"),
                ("Content-Type: text/plain\r\nContent-Length: 5\r\n", "415"),
                ("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n", "401"),
            ]
            for (headers, status) in cases {
                let connection = try await RawConnection.open(port: server.port)
                defer { connection.close() }
                try await connection.send("POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\(headers)\r\n")
                let text = try await connection.readToClose()
                #expect(Self.status(text) == status, "\(headers)")
                #expect(!text.contains("100 Continue"))
            }
        }
    }

    @Test(arguments: pipelines)
    func aBareLFPublishGetsTheSameAnswerAsABareLFGet(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            var statuses: [String] = []
            for request in [
                "POST /.well-known/mercure HTTP/1.1\nHost: x\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 3\n\nabc",
                "POST /.well-known/mercure HTTP/1.1\nHost: x\n",  // and nothing more
                "GET /.well-known/mercure?topic=a HTTP/1.1\nHost: x\n\n",
            ] {
                let connection = try await RawConnection.open(port: server.port)
                defer { connection.close() }
                try await connection.send(request)
                statuses.append(Self.status(try await connection.readToClose()))
            }
            #expect(statuses == ["400", "400", "400"])
        }
    }

    @Test(arguments: pipelines)
    func aQueryThatDoesNotDecodeIs400OnEveryPath(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            let (status, body) = try await post(server, body: "topic=q&data=x", query: "?%zz")
            #expect(status == 400)
            #expect(body.hasPrefix("bad query string"))
            #expect(server.hub.statistics.historyCount == 0)
        }
    }

    @Test(arguments: pipelines)
    func thePublishAnswerIsTheIdExactly(pipeline: TestServer.Pipeline) async throws {
        try await TestServer.run(pipeline: pipeline) { server in
            for extra in [[], [("Origin", "http://127.0.0.1")], [("Connection", "keep-alive")]] {
                let (status, body) = try await post(server, body: "topic=exact&data=x&id=the-id-\(extra.count)", headers: extra)
                #expect(status == 200 || extra.first?.0 == "Origin")
                if status == 200 { #expect(body == "the-id-\(extra.count)", "\(extra)") }
            }
        }
    }

    @Test func anHTTP10StreamIsCloseDelimited() async throws {
        try await TestServer.run { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send("GET /.well-known/mercure?topic=old HTTP/1.0\r\nHost: x\r\n\r\n")
            let head = try await connection.read { $0.contains("\r\n\r\n") }
            #expect(head.hasPrefix("HTTP/1.0 200 OK\r\n"))
            #expect(head.lowercased().contains("connection: close\r\n"))
            #expect(!head.lowercased().contains("transfer-encoding"))
            let (status, _) = try await post(server, body: "topic=old&data=plain&id=e1")
            #expect(status == 200)
            let text = try await connection.read { $0.contains("data: plain\n\n") }
            #expect(Self.body(text) == "id: e1\ndata: plain\n\n")
        }
    }
}
