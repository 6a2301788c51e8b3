import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Hummingbird
import Testing

/// Head, body and idle timeouts close slow or idle connections; streams are exempt once open.
@Suite struct TimeoutTests {
    private static func configuration(head: Duration = .seconds(10), body: Duration = .seconds(10), idle: Duration = .seconds(60))
        -> HeraldHTTPConfiguration
    {
        var http = HeraldHTTPConfiguration()
        http.headTimeout = head
        http.bodyTimeout = body
        http.idleTimeout = idle
        return http
    }

    private static let form = "topic=timeouts&data=x"
    private static let publishHead =
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + "Content-Length: \(form.utf8.count)\r\n"

    @Test func aTricklingHeadIsCutOff() async throws {
        try await TestServer.run(http: Self.configuration(head: .seconds(1))) { server in
            for start in ["POST /.well-known/mercure HTTP/1.1\r\n", "GET /.well-known/mercure?topic=a HTTP/1.1\r\n", "GET /other HTTP/1.1\r\n"] {
                let connection = try await RawConnection.open(port: server.port)
                defer { connection.close() }
                try? await connection.send(start)
                // A header line now and then, never the end of the head, until the server cuts
                // it off (at 1 s; up to 15 s allowed for a loaded machine: what fails without the
                // timeout is a connection that is never closed).
                for index in 0..<150 where !connection.isClosed {
                    // (The server may close between the check and the write.)
                    try? await connection.send("X-Slow-\(index): y\r\n")
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(connection.isClosed, "\(start)")
            }
        }
    }

    @Test func aConnectionThatSendsNothingIsClosedAfterTheHeadTimeout() async throws {
        try await TestServer.run(http: Self.configuration(head: .milliseconds(200))) { server in
            let connection = try await RawConnection.open(port: server.port)
            _ = try await connection.readToClose()
            #expect(connection.isClosed)
        }
    }

    @Test func aSlowBodyIsCutOff() async throws {
        try await TestServer.run(http: Self.configuration(body: .milliseconds(300))) { server in
            for head in [Self.publishHead, Self.publishHead + "Origin: http://x\r\n"] {
                let connection = try await RawConnection.open(port: server.port)
                defer { connection.close() }
                try await connection.send(head + "\r\ntopic=")
                _ = try await connection.readToClose()
                #expect(connection.isClosed)
                #expect(!connection.text.contains("200 OK"))
            }
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterItsAnswer() async throws {
        try await TestServer.run(http: Self.configuration(idle: .milliseconds(300))) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            try await connection.send(Self.publishHead + "\r\n" + Self.form)
            let answer = try await connection.readToClose()
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(connection.isClosed)
        }
    }

    @Test func aConnectionInUseIsNotIdle() async throws {
        try await TestServer.run(http: Self.configuration(idle: .seconds(2))) { server in
            let connection = try await RawConnection.open(port: server.port)
            defer { connection.close() }
            // Requests every 100 ms, 3 s in all: never 2 s without one.
            for index in 1...30 {
                try await connection.send(Self.publishHead + "\r\n" + Self.form)
                _ = try await connection.read { $0.components(separatedBy: "200 OK").count > index }
                #expect(!connection.isClosed)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test func streamsAreExemptOnceOpen() async throws {
        // The head timeout is long enough that the subscribe's own head gets through on a loaded
        // machine (the whole suite runs in parallel on two cores); body and idle are short.
        let short = Duration.milliseconds(700)
        try await TestServer.run(http: Self.configuration(head: .seconds(2), body: short, idle: short)) { server in
            let client = try server.client()
            let (events, close) = try await client.subscribe(topics: ["timeouts"])
            defer { close() }
            // Every timeout passes (the head one twice) with the stream quiet, then an event still arrives.
            try await Task.sleep(for: .seconds(4.5))
            // Published through the hub: a new connection of its own could itself meet the
            // short head timeout on a loaded machine.
            _ = try await server.hub.publish(Update(topics: ["timeouts"], data: "still open"))
            #expect(try await firstEvent(events)?.data == "still open")
        }
    }
}
