import Foundation
import Testing

/// `herald subscribe` is built on the library: after a reconnect its JSON lines carry the last
/// event id (the issue's first difference with Chromium: it printed `"id": null`), and an empty
/// `id:` before the close means no `Last-Event-ID` on the next request (the second difference).
@Suite("herald subscribe")
struct SubscribeCommandTests {
    @Test func jsonLinesCarryTheLastEventIDAcrossReconnects() async throws {
        guard let herald = Binaries.herald else {
            Issue.record("the herald binary is not built (swift build --product herald)")
            return
        }
        try await ScriptedServer.run(script: { request in
            switch request.connection {
            case 0: .stream("id: 7\ndata: a\n\n")
            case 1: .stream("data: b\n\nid:\ndata: c\n\n")
            default: .stream("data: d\n\n", end: .holdOpen)
            }
        }) { server in
            let child = try ChildProcess.start(
                herald,
                ["subscribe", "--url", "http://127.0.0.1:\(server.port)", "--topic", "t", "--json", "--count", "4"],
                logName: "subscribe"
            )
            defer { if child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) } }
            _ = try await child.waitForLine(#"("data":"d")"#, seconds: 30)
            let lines = child.log.split(separator: "\n").filter { $0.hasPrefix("{") }
            #expect(lines == [
                #"{"data":"a","id":"7","type":"message"}"#,
                #"{"data":"b","id":"7","type":"message"}"#,
                #"{"data":"c","type":"message"}"#,
                #"{"data":"d","type":"message"}"#,
            ])
            var requests = server.events.makeAsyncIterator()
            let seen = [await requests.nextRequest(), await requests.nextRequest(), await requests.nextRequest()]
            #expect(seen.map { $0?.headers["last-event-id"] } == [nil, "7", nil])
            #expect(seen.first??.requestLine.hasPrefix("GET /.well-known/mercure?topic=t ") == true)
        }
    }
}
