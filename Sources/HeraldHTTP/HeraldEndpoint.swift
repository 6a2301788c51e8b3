import CoreMetrics
import HTTPTypes
import HeraldHub
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The Mercure endpoint: Herald's hub served over Hummingbird (and, with `.herald(endpoint)`,
/// straight from the event loop). Every transport only adapts bytes to the protocol core
/// (`HubProtocol`) and writes its decisions; this class holds the core and the transports' glue.
public final class HeraldEndpoint: Sendable {
    /// The hub behind the endpoint.
    public let hub: Hub
    /// The configuration the routes were mounted with.
    public let configuration: HeraldHTTPConfiguration
    /// The protocol core every transport asks.
    package let core: HubProtocol
    let logger: Logger
    /// An atomic, not a lock: both event loops bump it on every fast publish.
    private let fastPublishes = Atomic<UInt64>(0)
    /// `herald_fast_path_publishes_total` in the hub's metrics backend (nil: none).
    private let fastPublishesCounter: Counter?

    /// Creates the endpoint; `Router.addHerald` is the usual way to get one.
    public init(hub: Hub, configuration: HeraldHTTPConfiguration, logger: Logger = Logger(label: "herald.http")) {
        self.hub = hub
        self.configuration = configuration
        self.core = HubProtocol(
            hub: hub,
            configuration: configuration,
            authority: MercureTokenAuthority(configuration: configuration, hub: hub),
            logger: logger
        )
        self.logger = logger
        self.fastPublishesCounter = hub.metricsFactory.map {
            Counter(label: HeraldMetric.fastPathPublishes.name, factory: $0)
        }
    }

    /// The CORS policy built from `configuration.corsOrigins`.
    var cors: CORSPolicy { core.cors }

    /// A channel handler that answers well-formed, authorized publishes on the event loop
    /// (see `HubChannelHandler`), for a server built with `.http1`: add one per connection with
    /// `additionalChannelHandlers`. `.herald(endpoint)` does this and streams without tasks too.
    public func makePublishChannelHandler() -> any RemovableChannelHandler {
        HubChannelHandler(endpoint: self, router: .present)
    }

    /// How many publishes the channel handler answered itself (the rest went to the router).
    public var fastPathPublishes: UInt64 { fastPublishes.load(ordering: .relaxed) }

    /// The fast paths' publish: when the core says `request` is a valid publish authorized
    /// without waiting and the broker takes it at once, its id; nil when the router should
    /// handle the request (it then answers with the same core, errors included).
    func publishNow(_ request: HubRequest) -> String? {
        guard let update = core.publishNow(request), let id = hub.publishImmediately(update) else { return nil }
        fastPublishes.add(1, ordering: .relaxed)
        fastPublishesCounter?.increment()
        return id
    }

    /// What a fast path's publish came to.
    enum FastPublish {
        /// Published; answer with the id.
        case published(String)
        /// The broker is on it (Redis): answer when the future completes (a `HubError` becomes
        /// the core's refusal, as on the router).
        case pending(EventLoopFuture<String>)
    }

    /// `publishNow`, and for a broker that must wait (Redis) the publish started without a
    /// task; nil when the router should handle the request. Only for a caller that can hold the
    /// connection's later requests until the answer is written (`HubChannelHandler`).
    func publishFast(_ request: HubRequest) -> FastPublish? {
        guard let update = core.publishNow(request) else { return nil }
        if let id = hub.publishImmediately(update) {
            fastPublishes.add(1, ordering: .relaxed)
            return .published(id)
        }
        guard let pending = hub.publishOnLoop(update) else { return nil }
        fastPublishes.add(1, ordering: .relaxed)
        return .pending(pending)
    }
}

extension Router {
    /// Mounts Herald's Mercure endpoint (`GET` to subscribe, `POST` to publish) at
    /// `configuration.path`, and the subscriptions API under it. Keyless publishing needs a
    /// context that knows the client's address (`RemoteAddressRequestContext`, e.g.
    /// `HeraldRequestContext`). Every method on these paths goes to the protocol core, which
    /// answers the ones it does not take with 405 and `Allow`. `{path}/herald.js` serves the
    /// browser client (see the README: old browsers, long-polling).
    @discardableResult
    public func addHerald(
        _ hub: Hub,
        configuration: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        logger: Logger = Logger(label: "herald.http")
    ) -> HeraldEndpoint {
        let endpoint = HeraldEndpoint(hub: hub, configuration: configuration, logger: logger)
        let paths = [configuration.path, configuration.path + "/subscriptions", configuration.path + "/subscriptions/**"]
        let methods: [HTTPRequest.Method] = [.get, .post, .options, .head, .put, .patch, .delete]
        for path in paths {
            for method in methods {
                self.on(RouterPath(path), method: method) { request, context in
                    await endpoint.respond(
                        to: request,
                        remoteAddress: (context as? any RemoteAddressRequestContext)?.remoteAddress,
                        connection: (context as? any ConnectionRequestContext)?.channel
                    )
                }
            }
        }
        // The browser client (EventSource, or long-polling where there is none).
        self.get(RouterPath(configuration.path + "/herald.js")) { request, _ in HeraldScript.shared.response(to: request) }
        return endpoint
    }
}
