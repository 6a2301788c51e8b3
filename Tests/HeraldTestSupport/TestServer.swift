import HeraldClient
import HeraldHTTP
import HeraldHub
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// A real Herald server on a free loopback port, run for the duration of `body`.
public struct TestServer: Sendable {
    public let hub: Hub
    /// The Mercure endpoint (for its counters).
    public let endpoint: HeraldEndpoint
    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func client() throws -> HeraldClient { try HeraldClient(baseURL: baseURL) }

    /// How the server's connections are set up.
    public enum Pipeline: Sendable {
        /// `.herald(endpoint)`, like `herald serve`: hub requests answered on the event loop.
        case herald
        /// `.http1` with the publish channel handler (an embedder's opt-in).
        case publishHandler
        /// Plain `.http1`: every request through the router.
        case router
        /// Any other server (`.http2Upgrade(tlsConfiguration:)`, what `herald serve` runs with
        /// a certificate): requests through the router over whatever it negotiates.
        case server(HTTPServerBuilder)
    }

    /// Runs a server (hub routes, plus whatever `mount` adds, given the hub's endpoint; the
    /// in-memory broker unless `broker` is given) for the
    /// duration of `body`, then shuts it down gracefully; returns how long the shutdown took
    /// (from the trigger until every service has returned).
    @discardableResult
    public static func run(
        hub hubConfiguration: HubConfiguration = HubConfiguration(),
        broker: (any Broker)? = nil,
        http httpConfiguration: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        pipeline: Pipeline = .herald,
        mount: (Router<HeraldRequestContext>, HeraldEndpoint) -> Void = { _, _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws -> Duration {
        var logger = Logger(label: "herald.test")
        logger.logLevel = .warning
        let hub = Hub(configuration: hubConfiguration, broker: broker ?? InMemoryBroker(), logger: logger)
        let router = Router(context: HeraldRequestContext.self)
        let endpoint = router.addHerald(hub, configuration: httpConfiguration, logger: logger)
        mount(router, endpoint)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: {
                switch pipeline {
                case .herald: .herald(endpoint)
                case .publishHandler: .http1(configuration: .init(additionalChannelHandlers: [endpoint.makePublishChannelHandler()]))
                case .router: .http1()
                case .server(let builder): builder
                }
            }(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                // As `herald serve` does: the connection cap and the back-off when out of fds.
                try? await endpoint.guardAccepts(on: channel)
                portContinuation.yield(channel.localAddress?.port ?? 0)
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app, hub], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestServerError.didNotStart }
            do {
                try await body(TestServer(hub: hub, endpoint: endpoint, port: port))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            let start = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return ContinuousClock.now - start
        }
    }
}

public enum TestServerError: Error { case didNotStart }

/// Sends a raw POST and returns (status, body text).
public func post(
    _ server: TestServer,
    body: String,
    contentType: String? = "application/x-www-form-urlencoded",
    headers extra: [(String, String)] = [],
    query: String = ""
) async throws -> (Int, String) {
    let http = try HTTPStreamingClient(baseURL: server.baseURL)
    var headers = HTTPHeaders()
    if let contentType { headers.add(name: "Content-Type", value: contentType) }
    for (name, value) in extra { headers.add(name: name, value: value) }
    let response = try await http.send(
        method: .POST,
        path: "/.well-known/mercure" + query,
        headers: headers,
        body: ByteBuffer(string: body)
    )
    return (Int(response.status.code), try await response.text())
}

/// Sends a GET and returns (status, headers, body text) for a response that ends (errors).
public func get(_ server: TestServer, _ pathAndQuery: String, headers extra: [(String, String)] = []) async throws -> (Int, String) {
    let http = try HTTPStreamingClient(baseURL: server.baseURL)
    var headers = HTTPHeaders()
    for (name, value) in extra { headers.add(name: name, value: value) }
    let response = try await http.send(method: .GET, path: pathAndQuery, headers: headers)
    return (Int(response.status.code), try await response.text())
}

extension TestServer.Pipeline: Equatable {
    /// The named pipelines are equal to themselves; two `.server` builders never compare equal
    /// (a builder is a closure).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.herald, .herald), (.publishHandler, .publishHandler), (.router, .router): true
        default: false
        }
    }
}
