import HeraldHub
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The Mercure endpoint: subscribe (GET) and publish (POST) handlers bound to one hub.
public final class HeraldEndpoint: Sendable {
    /// The hub behind the endpoint.
    public let hub: Hub
    /// The configuration the routes were mounted with.
    public let configuration: HeraldHTTPConfiguration
    let publisherVerifier: TokenVerifier?
    let subscriberVerifier: TokenVerifier?
    /// Mercure 1.0 access tokens, verified with the same keys (AccessToken.swift).
    let publisherAccessTokens: AccessTokenVerifier?
    let subscriberAccessTokens: AccessTokenVerifier?
    let cors: CORSPolicy
    let logger: Logger
    /// An atomic, not a lock: both event loops bump it on every fast publish.
    private let fastPublishes = Atomic<UInt64>(0)

    /// Creates the endpoint; `Router.addHerald` is the usual way to get one.
    public init(hub: Hub, configuration: HeraldHTTPConfiguration, logger: Logger = Logger(label: "herald.http")) {
        self.hub = hub
        self.configuration = configuration
        self.publisherVerifier = configuration.publisherKey.map(TokenVerifier.init(key:))
        self.subscriberVerifier = configuration.subscriberKey.map(TokenVerifier.init(key:))
        self.publisherAccessTokens = configuration.publisherKey.map { AccessTokenVerifier(key: $0, rules: configuration.accessTokenRules) }
        self.subscriberAccessTokens = configuration.subscriberKey.map { AccessTokenVerifier(key: $0, rules: configuration.accessTokenRules) }
        self.cors = CORSPolicy(configuration.corsOrigins)
        self.logger = logger
    }

    /// A channel handler that answers well-formed, authorized publishes on the event loop
    /// (see `HubChannelHandler`), for a server built with `.http1`: add one per connection with
    /// `additionalChannelHandlers`. `.herald(endpoint)` does this and streams without tasks too.
    public func makePublishChannelHandler() -> any RemovableChannelHandler {
        HubChannelHandler(endpoint: self, router: .present)
    }

    /// How many publishes the channel handler answered itself (the rest went to the router).
    public var fastPathPublishes: UInt64 { fastPublishes.load(ordering: .relaxed) }

    func countFastPublish() {
        fastPublishes.add(1, ordering: .relaxed)
    }

    /// Decodes the query string strictly, or refuses with 400.
    func query(of request: Request) throws(Refusal) -> FormFields {
        try Self.decodeQuery(request.uri.query ?? "")
    }

    /// The one rule for a hub request's query string, whichever path reads the request:
    /// decoded strictly (a bad percent-escape is a 400), never ignored.
    static func decodeQuery(_ query: some StringProtocol) throws(Refusal) -> FormFields {
        do {
            return try FormFields(decoding: Array(query.utf8))
        } catch {
            throw .badRequest("bad query string: \(error.reason)")
        }
    }
}

extension Router {
    /// Mounts Herald's Mercure endpoint (`GET` to subscribe, `POST` to publish) at
    /// `configuration.path`. Keyless publishing needs a context that knows the client's address
    /// (`RemoteAddressRequestContext`, e.g. `HeraldRequestContext`).
    @discardableResult
    public func addHerald(
        _ hub: Hub,
        configuration: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        logger: Logger = Logger(label: "herald.http")
    ) -> HeraldEndpoint {
        let endpoint = HeraldEndpoint(hub: hub, configuration: configuration, logger: logger)
        let path = RouterPath(configuration.path)
        self.get(path) { request, context in
            endpoint.allowingCORS(
                request,
                await endpoint.subscribe(
                    request,
                    remoteAddress: (context as? any RemoteAddressRequestContext)?.remoteAddress,
                    connection: (context as? any ConnectionRequestContext)?.channel
                )
            )
        }
        self.post(path) { request, context in
            endpoint.allowingCORS(
                request,
                await endpoint.publish(
                    request,
                    remoteAddress: (context as? any RemoteAddressRequestContext)?.remoteAddress
                )
            )
        }
        self.on(path, method: .options) { request, _ in
            endpoint.preflight(request, methods: HeraldEndpoint.hubMethods)
        }
        refuseOtherMethods(on: path, endpoint: endpoint, methods: HeraldEndpoint.hubMethods, what: "the hub")
        for subscriptions in [configuration.path + "/subscriptions", configuration.path + "/subscriptions/**"] {
            self.get(RouterPath(subscriptions)) { request, _ in
                endpoint.allowingCORS(request, await endpoint.subscriptions(request))
            }
            self.on(RouterPath(subscriptions), method: .options) { request, _ in
                endpoint.preflight(request, methods: HeraldEndpoint.subscriptionsMethods)
            }
            refuseOtherMethods(
                on: RouterPath(subscriptions),
                endpoint: endpoint,
                methods: HeraldEndpoint.subscriptionsMethods,
                what: "the subscriptions API"
            )
        }
        return endpoint
    }
}
