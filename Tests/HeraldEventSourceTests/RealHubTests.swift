import HeraldTestSupport
import AsyncHTTPClient
import Foundation
import HeraldEventSource
import HeraldTesting
import NIOConcurrencyHelpers
import NIOSSL
import ServerSentEvents
import Testing

/// Against the real `herald serve` binary (loopback only; every process ended by its PID).
@Suite("Against herald serve", .serialized)
struct RealHubTests {
    static let openssl = Binaries.onPath("openssl")
    static let redisServer = ProcessInfo.processInfo.environment["REDIS_SERVER"] ?? Binaries.onPath("redis-server")

    /// HTTPS with a certificate made now by openssl, verified against it as the only trust root;
    /// the hub offers HTTP/2 by ALPN and AsyncHTTPClient takes it. Publish and subscribe over it,
    /// then the hub's gap signal for an id it never had.
    @Test(.enabled(if: Binaries.available(openssl, "openssl")))
    func tlsAgainstHeraldServe() async throws {
        let directory = NSTemporaryDirectory() + "herald-es-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cert = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let openssl = try ChildProcess.start(
            try #require(Self.openssl),
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            logName: "openssl"
        )
        openssl.process.waitUntilExit()
        try #require(openssl.process.terminationStatus == 0, "openssl failed: \(openssl.log)")

        let (herald, port) = try await startHerald(["--tls-cert", cert, "--tls-key", key])
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            let base = "https://127.0.0.1:\(port)"
            let health = try await client.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(10))
            #expect(health.version == .http2)
            _ = try await health.body.collect(upTo: 1024)

            let hub = MercureHub(url: base + "/.well-known/mercure", httpClient: client)
            let source = hub.subscribe(topics: ["tls"], configuration: EventSource.Configuration(reconnectionTime: .milliseconds(100)))
            let received = try await withTimeout(.seconds(20), "an update over TLS") { () async throws -> (ServerSentEvent?, String) in
                var iterator = source.makeAsyncIterator()
                guard try await iterator.next() == .open else { return (nil, "") }
                let id = try await hub.publish(topics: ["tls"], data: "over TLS")
                return (try await iterator.nextMessage(), id)
            }
            #expect(received.0?.data == "over TLS")
            #expect(received.0?.id == received.1)

            // The gap signal, as the hub sends it.
            let unknown = "urn:uuid:never-published"
            let gapSource = hub.subscribe(topics: ["tls"], lastEventID: unknown)
            let first = try await withTimeout(.seconds(20), "the gap event") { () async throws -> [EventSource.Event] in
                var iterator = gapSource.makeAsyncIterator()
                return [try await iterator.next(), try await iterator.next()].compactMap { $0 }
            }
            #expect(first.count == 2)
            if first.count == 2 {
                #expect(first[0] == .open)
                guard case .gap(let gap) = first[1] else {
                    Issue.record("expected a gap, got \(first[1])")
                    try await client.shutdown()
                    await herald.stop()
                    return
                }
                #expect(gap.lastEventID == unknown)
            }

            // HTTP/1.1 over TLS (a client without HTTP/2): the stream's events must be encrypted
            // like its head (they were once written in front of TLS, and the client got none).
            var http1Configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            http1Configuration.httpVersion = .http1Only
            let http1Client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http1Configuration)
            do {
                let http1Hub = MercureHub(url: base + "/.well-known/mercure", httpClient: http1Client)
                let http1Source = http1Hub.subscribe(topics: ["tls-h1"])
                let overHTTP1 = try await withTimeout(.seconds(20), "an update over HTTP/1.1 with TLS") { () async throws -> [ServerSentEvent?] in
                    var iterator = http1Source.makeAsyncIterator()
                    guard try await iterator.next() == .open else { return [] }
                    _ = try await http1Hub.publish(topics: ["tls-h1"], data: "first")
                    let first = try await iterator.nextMessage()
                    _ = try await http1Hub.publish(topics: ["tls-h1"], data: "second")
                    return [first, try await iterator.nextMessage()]
                }
                #expect(overHTTP1.map { $0?.data } == ["first", "second"])
            } catch {
                try? await http1Client.shutdown()
                throw error
            }
            try await http1Client.shutdown()

            // Without the certificate as a trust root the handshake fails: no event, typed give-up.
            let untrusting = EventSource(
                url: base + "/.well-known/mercure?topic=tls",
                configuration: EventSource.Configuration(maxAttempts: 1, responseTimeout: .seconds(2))
            )
            let refused = try await withTimeout(.seconds(20), "the refused handshake") { () async throws -> EventSourceError? in
                do {
                    for try await _ in untrusting {}
                    return nil
                } catch let error as EventSourceError {
                    return error
                }
            }
            guard case .gaveUp(attempts: 1, _)? = refused else {
                Issue.record("expected a give-up after a failed handshake, got \(String(describing: refused))")
                try await client.shutdown()
                await herald.stop()
                return
            }
        } catch {
            try? await client.shutdown()
            await herald.stop()
            throw error
        }
        try await client.shutdown()
        await herald.stop()
    }

    /// Two hub processes over one Redis; the first is stopped mid-stream, updates are published
    /// to the second before the client comes back, then more live. The client must get every
    /// update exactly once, in order, with no gap: the replay from its carried last event id.
    @Test(.enabled(if: Binaries.available(redisServer, "redis-server")))
    func hubRestartLosesNothingAndRepeatsNothing() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let redisURL = "redis://127.0.0.1:\(redis.port)"

        let (first, port) = try await startHerald(["--redis", redisURL])
        let hub = MercureHub(url: "http://127.0.0.1:\(port)/.well-known/mercure")
        // A long reconnection time: the second node is up and has the "missed" updates before
        // the client returns, so they can only come from the replay.
        var configuration = EventSource.Configuration(reconnectionTime: .seconds(4))
        configuration.backoff = Backoff(jitter: 0)
        let source = hub.subscribe(topics: ["restart"], configuration: configuration)
        let (events, sink) = AsyncThrowingStream<EventSource.Event, any Error>.makeStream()
        let reader = Task {
            do {
                for try await event in source { sink.yield(event) }
                sink.finish()
            } catch {
                sink.finish(throwing: error)
            }
        }
        // Bounds the whole run: ends the reader (so every wait below ends) after 90 s.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(90))
            reader.cancel()
        }
        defer {
            watchdog.cancel()
            reader.cancel()
        }
        var stream = events.makeAsyncIterator()
        var published: [String] = []
        var delivered: [ServerSentEvent] = []
        var gaps = 0
        var second: ChildProcess?

        do {
            try await Self.expect(.open, from: &stream)
            for n in 1...5 { published.append(try await hub.publish(topics: ["restart"], data: "\(n)")) }
            try await Self.collect(until: 5, from: &stream, into: &delivered, gaps: &gaps)

            await first.stop()
            let (restarted, samePort) = try await startHerald(["--redis", redisURL], port: port)
            second = restarted
            #expect(samePort == port)
            for n in 6...10 { published.append(try await hub.publish(topics: ["restart"], data: "\(n)")) }
            try await Self.collect(until: 10, from: &stream, into: &delivered, gaps: &gaps)
            for n in 11...15 { published.append(try await hub.publish(topics: ["restart"], data: "\(n)")) }
            try await Self.collect(until: 15, from: &stream, into: &delivered, gaps: &gaps)
        } catch {
            reader.cancel()
            await first.stop()
            await second?.stop()
            throw error
        }
        reader.cancel()
        await first.stop()
        await second?.stop()

        #expect(gaps == 0)
        #expect(delivered.map(\.data) == (1...15).map { "\($0)" })
        #expect(delivered.map(\.id) == published.map { Optional($0) })
    }

    /// Issue 15 item 4, both sides: the hub ends a stream when its token's `exp` passes; the
    /// client gets a fresh token from its provider before reconnecting and resumes with its
    /// last event id: every private update arrives once, in order.
    @Test func expiredTokenIsReplacedAndNothingIsLost() async throws {
        let secret = "eventsource-subscriber-secret-0123456789"
        let herald = try #require(Binaries.herald)
        let (server, port) = try await startHerald(["--subscriber-key", secret])
        let calls = NIOLockedValueBox(0)
        // `herald token` signs; the first token lives 2 s, the next ones an hour.
        let provider: AccessTokenProvider = {
            let call = calls.withLockedValue { count in
                count += 1
                return count
            }
            let minted = try ChildProcess.start(
                herald,
                ["token", "--key", secret, "--subscribe", "expiry", "--ttl", call == 1 ? "2" : "3600"],
                logName: "token"
            )
            minted.process.waitUntilExit()
            return minted.log.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let hub = MercureHub(url: "http://127.0.0.1:\(port)/.well-known/mercure")
        var configuration = EventSource.Configuration(reconnectionTime: .milliseconds(200), tokenRefreshLeeway: .zero)
        configuration.backoff = Backoff(jitter: 0)
        let source = hub.subscribe(topics: ["expiry"], configuration: configuration, tokenProvider: provider)
        let (events, sink) = AsyncThrowingStream<EventSource.Event, any Error>.makeStream()
        let reader = Task {
            do {
                for try await event in source { sink.yield(event) }
                sink.finish()
            } catch {
                sink.finish(throwing: error)
            }
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            reader.cancel()
        }
        defer {
            watchdog.cancel()
            reader.cancel()
        }
        var stream = events.makeAsyncIterator()
        var delivered: [ServerSentEvent] = []
        var reasons: [String] = []
        do {
            try await Self.expect(.open, from: &stream)
            for n in 1...2 { _ = try await hub.publish(topics: ["expiry"], data: "\(n)", isPrivate: true) }
            var gaps = 0
            try await Self.collect(until: 2, from: &stream, into: &delivered, gaps: &gaps)
            // The hub ends the stream at `exp`.
            while true {
                let event = try await Self.next(&stream)
                if case .reconnecting(_, let reason) = event {
                    reasons.append(reason)
                    break
                }
                if case .message(let message) = event { delivered.append(message) }
            }
            _ = try await hub.publish(topics: ["expiry"], data: "3", isPrivate: true)  // while it is away
            while try await Self.next(&stream) != .open {}
            _ = try await hub.publish(topics: ["expiry"], data: "4", isPrivate: true)
            try await Self.collect(until: 4, from: &stream, into: &delivered, gaps: &gaps)
            #expect(gaps == 0)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        #expect(delivered.map(\.data) == ["1", "2", "3", "4"])
        #expect(calls.withLockedValue { $0 } == 2)
        #expect(reasons == ["the server ended the stream"])
    }

    static func expect(
        _ expected: EventSource.Event,
        from stream: inout AsyncThrowingStream<EventSource.Event, any Error>.Iterator
    ) async throws {
        let event = try await Self.next(&stream)
        try #require(event == expected)
    }

    /// Reads messages until `count` were delivered in all (at most 30 s per event).
    static func collect(
        until count: Int,
        from stream: inout AsyncThrowingStream<EventSource.Event, any Error>.Iterator,
        into delivered: inout [ServerSentEvent],
        gaps: inout Int
    ) async throws {
        while delivered.count < count {
            switch try await Self.next(&stream) {
            case .message(let message): delivered.append(message)
            case .gap: gaps += 1
            case .open, .reconnecting: continue
            }
        }
    }

    /// The next event; the watchdog ends the reader (and so the stream) if the test overruns.
    static func next(
        _ stream: inout AsyncThrowingStream<EventSource.Event, any Error>.Iterator
    ) async throws -> EventSource.Event {
        guard let event = try await stream.next() else { throw TimedOut("events (the watchdog stopped the reader)") }
        return event
    }
}
