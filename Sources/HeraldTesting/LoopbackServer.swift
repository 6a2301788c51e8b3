import HeraldHTTP
import HeraldHub
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// Runs a hub behind Hummingbird on a free loopback port for the duration of a body: the one
/// place tests start a real server (``TestHub`` and the package's own test support use it).
package enum LoopbackServer {
    /// How the server's connections are set up.
    package enum Pipeline: Sendable {
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

    /// Warnings and errors only.
    package static let quietLogger: Logger = {
        var logger = Logger(label: "herald.test")
        logger.logLevel = .warning
        return logger
    }()

    /// Runs a server (hub routes, plus whatever `mount` adds; the in-memory broker unless
    /// `broker` is given) for the duration of `body`, then
    /// shuts it down gracefully; returns `body`'s result and how long the shutdown took (from
    /// the trigger until every service has returned).
    package static func run<T: Sendable>(
        hub hubConfiguration: HubConfiguration,
        broker: (any Broker)? = nil,
        http httpConfiguration: HeraldHTTPConfiguration,
        pipeline: Pipeline = .herald,
        mount: (Router<HeraldRequestContext>, HeraldEndpoint) -> Void,
        _ body: (Hub, HeraldEndpoint, Int) async throws -> T
    ) async throws -> (result: T, shutdown: Duration) {
        let logger = quietLogger
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
        // The hub after the app: it closes its streams before the server drains.
        let group = ServiceGroup(configuration: .init(services: [app, hub], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self, returning: (result: T, shutdown: Duration).self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestHubError.didNotStart }
            let result: T
            do {
                result = try await body(hub, endpoint, port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            let start = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return (result, ContinuousClock.now - start)
        }
    }
}
