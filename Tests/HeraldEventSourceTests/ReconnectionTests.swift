import Foundation
import HeraldEventSource
import HeraldTesting
import NIOCore
import NIOPosix
import ServerSentEvents
import Testing

@Suite("Reconnection model")
struct ReconnectionTests {
    /// The last event id survives a reconnect: it is sent as `Last-Event-ID`, and events of the
    /// new connection without an `id` field still carry it (Chromium does the same; the old CLI
    /// started a new parser per connection and reported `"id": null`).
    @Test func lastEventIDIsCarriedAcrossReconnects() async throws {
        try await ScriptedServer.run(script: { request in
            request.connection == 0 ? .stream("id: 7\ndata: a\n\n") : .stream("data: b\n\n", end: .holdOpen)
        }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let (first, second) = try await withTimeout(.seconds(10), "two connections") { () async throws -> ([Dispatched], ServerSentEvent?) in
                var iterator = source.makeAsyncIterator()
                let first = try await iterator.oneConnection().events
                let second = try await iterator.nextMessage()
                return (first, second)
            }
            #expect(first == [Dispatched(data: "a", lastEventId: "7")])
            #expect(second?.data == "b")
            #expect(second?.id == "7")
            var requests = server.events.makeAsyncIterator()
            let requestOne = await requests.nextRequest()
            let requestTwo = await requests.nextRequest()
            #expect(requestOne?.headers["last-event-id"] == nil)
            #expect(requestTwo?.headers["last-event-id"] == "7")
            #expect(requestTwo?.headers["accept"] == "text/event-stream")
            recordResult("reconnect-id-carried", ReconnectOutcome(events: second.map { [Dispatched($0)] } ?? [], lastEventIDHeader: requestTwo?.headers["last-event-id"]))
        }
    }

    /// An empty `id:` resets the last event id; after the connection closes, the reconnect
    /// carries no `Last-Event-ID` at all (the old CLI kept sending the old one).
    @Test(arguments: ["id: 7\ndata: a\n\nid:\ndata: b\n\n", "id: 7\ndata: a\n\nid\n\n"])
    func emptyIDThenCloseReconnectsWithoutLastEventID(stream: String) async throws {
        try await ScriptedServer.run(script: { request in
            request.connection == 0 ? .stream(stream) : .stream("data: c\n\n", end: .holdOpen)
        }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let last = try await withTimeout(.seconds(10), "the second connection") {
                var iterator = source.makeAsyncIterator()
                _ = try await iterator.oneConnection()
                return try await iterator.nextMessage()
            }
            #expect(last?.data == "c")
            #expect(last?.id == nil)
            var requests = server.events.makeAsyncIterator()
            _ = await requests.nextRequest()
            let second = try #require(await requests.nextRequest())
            #expect(second.connection == 1)
            #expect(second.headers["last-event-id"] == nil)
            if stream.hasSuffix("data: b\n\n") {
                recordResult("reconnect-empty-id", ReconnectOutcome(events: last.map { [Dispatched($0)] } ?? [], lastEventIDHeader: second.headers["last-event-id"]))
            }
        }
    }

    /// A last event id given at start is sent on the first request and carried by events.
    @Test func configuredLastEventIDIsSentFirst() async throws {
        try await ScriptedServer.run(script: { _ in .stream("data: a\n\n", end: .holdOpen) }) { server in
            let source = EventSource(url: server.url, configuration: immediate { $0.lastEventID = "earliest" })
            let message = try await withTimeout(.seconds(10), "a message") {
                var iterator = source.makeAsyncIterator()
                return try await iterator.nextMessage()
            }
            #expect(message?.id == "earliest")
            var requests = server.events.makeAsyncIterator()
            #expect(await requests.nextRequest()?.headers["last-event-id"] == "earliest")
        }
    }

    /// The server's `retry:` replaces the configured reconnection time (60 s here: the test
    /// could not finish if it were used), and the wait is at least what the server asked.
    @Test func retryFieldIsHonoured() async throws {
        try await ScriptedServer.run(script: { request in
            request.connection == 0 ? .stream("retry: 150\ndata: a\n\n") : .stream("data: b\n\n", end: .holdOpen)
        }) { server in
            var configuration = EventSource.Configuration(reconnectionTime: .seconds(60))
            configuration.backoff = Backoff(jitter: 0)
            let source = EventSource(url: server.url, configuration: configuration)
            let (after, waited) = try await withTimeout(.seconds(10), "the reconnect") { () async throws -> (Duration?, Duration) in
                var iterator = source.makeAsyncIterator()
                let after = try await iterator.oneConnection().reconnectAfter
                let start = ContinuousClock.now
                _ = try await iterator.nextMessage()
                return (after, ContinuousClock.now - start)
            }
            #expect(after == .milliseconds(150))
            #expect(waited >= .milliseconds(150))
        }
    }

    /// Attempts that deliver nothing grow the wait (x2 up to the cap); one that delivers an
    /// event resets it.
    @Test func backoffGrowsWhileNothingIsDeliveredAndResetsAfterAnEvent() async throws {
        try await ScriptedServer.run(script: { request in
            request.connection == 4 ? .stream("data: x\n\n") : .stream(": nothing but a comment\n\n")
        }) { server in
            var configuration = EventSource.Configuration(reconnectionTime: .milliseconds(10))
            configuration.backoff = Backoff(multiplier: 2, maxDelay: .milliseconds(40), jitter: 0)
            let source = EventSource(url: server.url, configuration: configuration)
            let waits = try await withTimeout(.seconds(10), "six connections") { () async throws -> [Duration] in
                var iterator = source.makeAsyncIterator()
                var waits: [Duration] = []
                for _ in 0..<6 {
                    waits.append(try #require(try await iterator.oneConnection().reconnectAfter))
                }
                return waits
            }
            #expect(waits == [10, 20, 40, 40, 10, 10].map { Duration.milliseconds($0) })
        }
    }

    @Test func backoffStaysWithinItsBoundsWithJitter() {
        let backoff = Backoff(multiplier: 2, maxDelay: .seconds(8), jitter: 0.5)
        for failures in 0..<70 {
            for random in [0.0, 0.3, 1.0] {
                let delay = backoff.delay(base: .seconds(1), failures: failures, random: random)
                let grown = min(8.0, pow(2.0, Double(max(failures - 1, 0))))
                #expect(abs(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18 - grown * (1 + 0.5 * random)) < 1e-6)
            }
        }
        // A server asking for more than the cap gets it.
        #expect(backoff.delay(base: .seconds(20), failures: 5, random: 0) == .seconds(20))
    }

    /// Nobody listening: each attempt fails (AsyncHTTPClient's pool retries a refused connection
    /// itself until `responseTimeout`); `maxAttempts` ends it with the typed error.
    @Test func refusedConnectionsGiveUpAfterMaxAttempts() async throws {
        let port = try await Self.closedPort()
        let source = EventSource(
            url: "http://127.0.0.1:\(port)/stream",
            configuration: immediate {
                $0.maxAttempts = 3
                $0.responseTimeout = .milliseconds(300)
            }
        )
        let outcome = try await withTimeout(.seconds(20), "three refused attempts") { () async throws -> (Int, EventSourceError?) in
            var reconnects = 0
            var iterator = source.makeAsyncIterator()
            do {
                while let event = try await iterator.next() {
                    if case .reconnecting = event { reconnects += 1 }
                }
                return (reconnects, nil as EventSourceError?)
            } catch let error as EventSourceError {
                return (reconnects, error)
            }
        }
        #expect(outcome.0 == 2)
        guard case .gaveUp(attempts: 3, _)? = outcome.1 else {
            Issue.record("expected gaveUp after 3 attempts, got \(String(describing: outcome.1))")
            return
        }
    }

    /// A port with nothing listening (bound, then closed).
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
