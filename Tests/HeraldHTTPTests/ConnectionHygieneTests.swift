import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Hummingbird
import Testing

/// Every connection ends when its client ends: after many connect/close cycles of each kind,
/// the server holds no socket for them (none in CLOSE_WAIT, open fds back to none).
@Suite struct ConnectionHygieneTests {
    static let cycles = 1_000

    private static func publish(_ form: String = "topic=hygiene&data=x", head extra: String = "") -> String {
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\(extra)Content-Type: application/x-www-form-urlencoded\r\n"
            + "Content-Length: \(form.utf8.count)\r\n\r\n\(form)"
    }

    /// What one client does on one connection before closing its socket.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case connectAndClose, fastPublish, fastPublishHalfClosed, chunkedPublish, refusedSubscribe
        case partialPostHead, partialGetHead, routerRequest, stream, bareLFPost, tooLargeBody
        var testDescription: String { rawValue }
    }

    private static func run(_ kind: Kind, port: Int) throws {
        let socket = try BlockingSocket(port: port)
        switch kind {
        case .connectAndClose:
            break
        case .fastPublish:
            socket.send(publish())
            socket.receive { $0.contains("urn:uuid:") }
        case .fastPublishHalfClosed:
            // curl-like: the request, then the client's side closed, then the answer read.
            socket.send(publish())
            socket.shutdownWrite()
            socket.receive { $0.contains("urn:uuid:") }
        case .chunkedPublish:
            let form = "topic=hygiene&data=chunked"
            socket.send(
                "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(String(form.utf8.count, radix: 16))\r\n\(form)\r\n0\r\n\r\n"
            )
            socket.receive { $0.contains("urn:uuid:") }
        case .refusedSubscribe:
            socket.send("GET /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\r\n")
            socket.receive { $0.contains("missing topic") }
        case .partialPostHead:
            socket.send("POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n")
        case .partialGetHead:
            socket.send("GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n")
        case .routerRequest:
            socket.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            socket.receive { $0.hasSuffix("ok\n") }
        case .stream:
            socket.send("GET /.well-known/mercure?topic=hygiene HTTP/1.1\r\nHost: x\r\n\r\n")
            socket.receive { $0.contains("\r\n\r\n") }
        case .bareLFPost:
            socket.send("POST /.well-known/mercure HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc")
            socket.receive { $0.contains("\r\n\r\n") }
        case .tooLargeBody:
            socket.send("POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n")
            socket.receive { $0.contains("\r\n\r\n") }
        }
    }

    // One kind at a time: a thousand connections each, in parallel, would starve the
    // other suites' servers on a small machine.
    @Test(.serialized, arguments: Kind.allCases)
    func connectionsEndWithTheirClients(kind: Kind) async throws {
        try await TestServer.run(mount: { router, _ in router.get("/healthz") { _, _ in "ok\n" } }) { server in
            #expect(ServerSockets.openCount(port: server.port) == 0)
            let port = server.port
            try await blocking {
                for _ in 0..<Self.cycles { try Self.run(kind, port: port) }
            }
            // Closed connections still in the listen queue are in CLOSE_WAIT without an fd yet.
            try await waitUntil(timeout: .seconds(10)) {
                ServerSockets.openCount(port: server.port) == 0 && ServerSockets.closeWaitCount(port: server.port) == 0
            }
            #expect(ServerSockets.closeWaitCount(port: server.port) == 0, "\(kind)")
            #expect(ServerSockets.openCount(port: server.port) == 0, "\(kind)")
        }
    }

    @Test func theRouterPipelineAndThePublishHandlerLeakNothingEither() async throws {
        for pipeline in [TestServer.Pipeline.router, .publishHandler] {
            try await TestServer.run(pipeline: pipeline) { server in
                let port = server.port
                try await blocking {
                    for kind in [Kind.connectAndClose, .fastPublish, .fastPublishHalfClosed, .partialPostHead, .refusedSubscribe] {
                        for _ in 0..<100 { try Self.run(kind, port: port) }
                    }
                }
                try await waitUntil { ServerSockets.openCount(port: server.port) == 0 }
                #expect(ServerSockets.openCount(port: server.port) == 0, "\(pipeline)")
            }
        }
    }

    @Test func connectionsPastTheCapAreClosedAtOnceAndTheOthersAreServed() async throws {
        var http = HeraldHTTPConfiguration()
        http.maxConnections = 3
        try await TestServer.run(http: http) { server in
            let port = server.port
            let (answers, refusedEnded, stillServed, held) = try await blocking {
                let held = try (0..<3).map { _ in try BlockingSocket(port: port) }
                // A round trip on each: all three are accepted and counted.
                let answers = held.map { socket in
                    socket.send(Self.publish())
                    return String(socket.receive { completeResponses($0) == 1 }.prefix(15))
                }
                let refused = try BlockingSocket(port: port)
                let refusedEnded = refused.receivesEnd()
                // The open ones still work.
                held[0].send(Self.publish())
                let stillServed = held[0].receive { completeResponses($0) == 1 }.hasPrefix("HTTP/1.1 200 OK")
                // One leaves.
                held[1].shutdownWrite()
                _ = held[1].receivesEnd()
                return (answers, refusedEnded, stillServed, SocketBox(held))
            }
            #expect(answers == Array(repeating: "HTTP/1.1 200 OK", count: 3))
            #expect(refusedEnded)
            #expect(stillServed)
            try await waitUntil { ServerSockets.openCount(port: port) == 2 }
            // A new connection is served again. (The count drops on the listener's loop just
            // after the socket closes: a connection arriving in between is refused, so retry.)
            var answer = ""
            for _ in 0..<50 where !answer.hasPrefix("HTTP/1.1 200 OK") {
                answer = try await blocking {
                    let next = try BlockingSocket(port: port)
                    next.send(Self.publish())
                    return next.receive { completeResponses($0) == 1 }
                }
                if answer.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            withExtendedLifetime(held) {}
        }
    }
}

/// Keeps sockets open across an `await`.
final class SocketBox: Sendable {
    let sockets: [BlockingSocket]
    init(_ sockets: [BlockingSocket]) { self.sockets = sockets }
}
