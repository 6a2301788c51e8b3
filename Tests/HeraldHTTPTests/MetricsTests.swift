import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Testing

/// `/metrics`: the hub's counters in the Prometheus text format, as a scraper reads them.
@Suite struct MetricsTests {
    /// Scrapes `/metrics` and returns its samples by name, checking every sample has its
    /// HELP and TYPE lines.
    func scrape(_ server: TestServer) async throws -> [String: Double] {
        let response = try await HTTPStreamingClient(baseURL: server.baseURL).send(method: .GET, path: "/metrics")
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"].first?.hasPrefix("text/plain; version=0.0.4") == true)
        let lines = try await response.text().split(separator: "\n")
        var samples: [String: Double] = [:]
        for line in lines where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2, "\(line)")
            let name = String(parts[0])
            #expect(lines.contains("# TYPE \(name) counter") || lines.contains("# TYPE \(name) gauge"), "\(name)")
            #expect(lines.contains { $0.hasPrefix("# HELP \(name) ") }, "\(name)")
            samples[name] = Double(parts[1])
        }
        return samples
    }

    @Test func countersFollowWhatTheHubDoes() async throws {
        var hubConfiguration = HubConfiguration()
        hubConfiguration.historySize = 2
        try await TestServer.run(hub: hubConfiguration, mount: { router, endpoint in
            router.addHeraldMetrics(endpoint)
        }) { server in
            let before = try await scrape(server)
            #expect(before["herald_subscribers"] == 0)
            #expect(before["herald_deliveries_total"] == 0)
            #expect(before["herald_fanout_backlogged"] == 0)
            #expect(before["herald_broker_catchup_retries_total"] == 0, "listed, and nothing to retry in memory")

            let (first, closeFirst) = try await subscribeRaw(server, "/.well-known/mercure?topic=t")
            let (second, closeSecond) = try await subscribeRaw(server, "/.well-known/mercure?topic=t")
            try await waitUntil { server.hub.statistics.subscribers == 2 }
            for index in 0..<3 {
                #expect(try await post(server, body: "topic=t&data=\(index)").0 == 200)
            }
            _ = try await events(first, count: 3)
            _ = try await events(second, count: 3)
            // The counter is bumped after the writes: a client may read them a moment earlier.
            try await waitUntil { server.hub.statistics.delivered == 6 }
            closeFirst()
            try await waitUntil { server.hub.statistics.subscribers == 1 }

            let after = try await scrape(server)
            #expect(after["herald_subscribers"] == 1)
            #expect(after["herald_subscriptions_opened_total"] == 2)
            #expect(after["herald_updates_total"] == 3)
            #expect(after["herald_deliveries_total"] == 6)
            #expect(after["herald_history_updates"] == 2)  // bounded by historySize
            #expect(after["herald_fast_path_publishes_total"] == 3)
            #expect(after["herald_subscribers_dropped_total"] == 0)
            closeSecond()
        }
    }

    /// Every client of a test server is on loopback, so a remote one is a context that says so.
    struct AddressedContext: RequestContext, RemoteAddressRequestContext {
        struct Source: RequestContextSource {
            var logger: Logger
            var remoteAddress: SocketAddress?
        }
        var coreContext: CoreRequestContextStorage
        var remoteAddress: SocketAddress?

        init(source: Source) {
            coreContext = .init(source: source)
            remoteAddress = source.remoteAddress
        }
    }

    @Test func onlyLoopbackClientsGetThemUnlessAllowed() async throws {
        let router = Router(context: AddressedContext.self)
        let endpoint = router.addHerald(Hub())
        router.addHeraldMetrics(endpoint)
        router.addHeraldMetrics(endpoint, path: "/public-metrics", allowRemote: true)
        let responder = router.buildResponder()
        func status(_ path: String, from ip: String, headers: HTTPFields = [:]) async throws -> HTTPResponse.Status {
            let request = Request(
                head: HTTPRequest(method: .get, scheme: "http", authority: "hub", path: path, headerFields: headers),
                body: RequestBody(buffer: ByteBuffer())
            )
            let source = AddressedContext.Source(
                logger: Logger(label: "test"),
                remoteAddress: try SocketAddress(ipAddress: ip, port: 5000)
            )
            return try await responder.respond(to: request, context: AddressedContext(source: source)).status
        }
        #expect(try await status("/metrics", from: "192.0.2.7") == .forbidden)
        #expect(try await status("/metrics", from: "127.0.0.1") == .ok)
        #expect(try await status("/metrics", from: "::1") == .ok)
        #expect(try await status("/public-metrics", from: "192.0.2.7") == .ok)
        // A reverse proxy on the same machine connects from loopback for everyone.
        for proxied: HTTPFields in [
            [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"],
            [HTTPField.Name("X-Real-IP")!: "203.0.113.9"],
            [HTTPField.Name("Forwarded")!: "for=203.0.113.9"],
        ] {
            #expect(try await status("/metrics", from: "127.0.0.1", headers: proxied) == .forbidden)
        }
    }
}
