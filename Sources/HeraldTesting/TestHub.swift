import AsyncHTTPClient
import HeraldEventSource
import HeraldHTTP
import HeraldHub
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServerSentEvents
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Herald hub for an app's own tests: served by Hummingbird on a free loopback port (with the
/// app's routes beside it), or in-process; subscribe and collect events with a timeout,
/// publish, mint tokens.
///
/// ```swift
/// @Test func orderUpdatesAreLive() async throws {
///     try await TestHub.run(routes: { router, endpoint in addOrderRoutes(to: router, hub: endpoint.hub) }) { hub in
///         let orders = try await hub.subscribe(topics: ["/orders/{id}"])
///         _ = try await hub.request("/orders/42/ship", method: .POST)
///         #expect(try await orders.next().data.contains("shipped"))
///     }
/// }
/// ```
///
/// Everything the hub started (server, subscriptions) ends when `run`'s body returns or throws.
public struct TestHub: Sendable {
    /// The hub: publish to it from the app's code, read its `statistics`.
    public let hub: Hub
    /// The HTTP side, nil for an in-process hub.
    public let endpoint: HeraldEndpoint?
    /// The loopback port the server listens on, nil for an in-process hub.
    public let port: Int?
    /// The HMAC secret the hub verifies tokens with (`run(key:)`); ``mintToken(publish:subscribe:payload:expiresIn:)`` signs with it.
    public let key: String?
    private let pumps: AsyncStream<Pump>.Continuation

    /// A subscription's reader, run by the hub's task group (never a task of its own).
    struct Pump: Sendable {
        let run: @Sendable () async -> Void
    }

    /// `http://127.0.0.1:<port>`, nil for an in-process hub.
    public var baseURL: String? { port.map { "http://127.0.0.1:\($0)" } }

    /// The hub's URL (`http://127.0.0.1:<port>/.well-known/mercure`), nil for an in-process hub.
    public var url: String? {
        guard let baseURL, let endpoint else { return nil }
        return baseURL + endpoint.configuration.path
    }

    /// A Swift client of the served hub (publish, subscribe), nil for an in-process hub.
    public var client: MercureHub? { url.map { MercureHub(url: $0) } }

    /// A secret long enough for HS256 (32 bytes or more), for tests that need one.
    public static let defaultKey = "herald-testing-secret-of-32-bytes-or-more"

    /// Serves a hub on a free loopback port for the duration of `body`, as `herald serve` does
    /// (`.herald(endpoint)`: hub requests answered on the event loop), then shuts it down
    /// gracefully.
    ///
    /// - Parameters:
    ///   - configuration: The hub's configuration.
    ///   - http: The HTTP side's configuration (path, CORS, limits, keys).
    ///   - key: An HMAC secret (32 bytes or more, e.g. ``defaultKey``) that publishers and
    ///     subscribers must sign their tokens with; nil keeps the configuration's keys (none by
    ///     default: loopback clients publish freely, anonymous subscribers see public updates).
    ///   - routes: Adds the app's own routes beside the hub's, given the router and the hub's
    ///     endpoint (`endpoint.hub` to publish from a route).
    ///   - body: The test.
    /// - Returns: What `body` returns.
    public static func run<T: Sendable>(
        configuration: HubConfiguration = HubConfiguration(),
        http: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        key: String? = nil,
        routes: (Router<HeraldRequestContext>, HeraldEndpoint) -> Void = { _, _ in },
        _ body: (TestHub) async throws -> T
    ) async throws -> T {
        var http = http
        if let key {
            http.publisherKey = HeraldKey(key)
            http.subscriberKey = HeraldKey(key)
        }
        let (pumps, pumpContinuation) = AsyncStream<Pump>.makeStream()
        return try await LoopbackServer.run(hub: configuration, http: http, mount: routes) { hub, endpoint, port in
            try await withPumps(pumps) {
                try await body(TestHub(hub: hub, endpoint: endpoint, port: port, key: key, pumps: pumpContinuation))
            }
        }.result
    }

    /// Runs a hub without any HTTP for the duration of `body` (its service running, as in an
    /// app's service group), then shuts it down: for code that publishes to a `Hub` directly.
    /// Subscriptions are in-process and anonymous unless they ask for private updates.
    public static func inProcess<T: Sendable>(
        configuration: HubConfiguration = HubConfiguration(),
        _ body: (TestHub) async throws -> T
    ) async throws -> T {
        let hub = Hub(configuration: configuration, logger: LoopbackServer.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [hub], logger: LoopbackServer.quietLogger))
        let (pumps, pumpContinuation) = AsyncStream<Pump>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: T
            do {
                result = try await withPumps(pumps) {
                    try await body(TestHub(hub: hub, endpoint: nil, port: nil, key: nil, pumps: pumpContinuation))
                }
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }

    /// Runs `body` while subscriptions' readers run beside it; they are cancelled when it ends.
    private static func withPumps<T: Sendable>(
        _ pumps: AsyncStream<Pump>,
        _ body: () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask {
                await withDiscardingTaskGroup { readers in
                    for await pump in pumps {
                        readers.addTask { await pump.run() }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    // MARK: subscribing

    /// Subscribes to `topics` (exact topics, URI templates, `*`) and returns once the hub has
    /// registered the subscription: everything published after this returns reaches it.
    ///
    /// Served hubs are followed over HTTP by HeraldEventSource's `EventSource` (with `token` as
    /// its bearer token); in-process hubs directly, where `receivesPrivateUpdates` stands for a
    /// token whose claim covers every topic.
    ///
    /// - Parameters:
    ///   - topics: Topic selectors (Mercure 0.x `topic=`).
    ///   - lastEventID: Replay what came after this id (`earliest`: all history); empty: only
    ///     what comes next.
    ///   - token: A subscriber JWT (served hubs), e.g. from ``mintToken(publish:subscribe:payload:expiresIn:)``.
    ///   - receivesPrivateUpdates: In-process hubs: whether private updates reach it.
    ///   - timeout: How long the hub may take to answer.
    public func subscribe(
        topics: [String],
        lastEventID: String = "",
        token: String? = nil,
        receivesPrivateUpdates: Bool = false,
        timeout: Duration = .seconds(5)
    ) async throws -> TestSubscription {
        let subscription = TestSubscription(label: "topics \(topics)")
        if let client {
            let tokenProvider: AccessTokenProvider? = token.map { token in { @Sendable in token } }
            let source = client.subscribe(topics: topics, lastEventID: lastEventID, tokenProvider: tokenProvider)
            pumps.yield(Pump { await Self.follow(source, into: subscription) })
        } else {
            let selectors = try topics.map { try TopicSelector($0) }
            let request = SubscribeRequest(
                selectors: selectors,
                privateSelectors: receivesPrivateUpdates ? [.wildcard] : nil,
                lastEventID: lastEventID.isEmpty ? nil : lastEventID
            )
            let hubSubscription = try await hub.subscribe(request)
            subscription.opened()
            pumps.yield(Pump { await Self.follow(hubSubscription, into: subscription) })
        }
        try await subscription.waitUntilOpen(timeout: timeout)
        return subscription
    }

    private static func follow(_ source: EventSource, into subscription: TestSubscription) async {
        do {
            for try await event in source {
                switch event {
                case .open: subscription.opened()
                case .message(let message): subscription.append(message)
                case .gap(let gap): subscription.append(ServerSentEvent(data: gap.data, event: Hub.gapEventType))
                case .reconnecting: continue
                }
            }
            subscription.finish(nil)
        } catch {
            subscription.finish(error)
        }
    }

    private static func follow(_ hubSubscription: Subscription, into subscription: TestSubscription) async {
        let parser = ParserBox()
        do {
            _ = try await withTaskCancellationHandler {
                try await hubSubscription.stream { buffers in
                    for buffer in buffers {
                        for case .event(let event) in try parser.feed(buffer) { subscription.append(event) }
                    }
                }
            } onCancel: {
                hubSubscription.cancel()
            }
            subscription.finish(nil)
        } catch {
            subscription.finish(error)
        }
    }

    // MARK: publishing

    /// Publishes one update and returns its id: over HTTP to a served hub (with `token` as the
    /// publisher's bearer token; the hub's refusal is thrown as HeraldEventSource's `MercureError`),
    /// straight to the `Hub` in-process.
    @discardableResult
    public func publish(
        topics: [String],
        data: String,
        id: String? = nil,
        type: String? = nil,
        isPrivate: Bool = false,
        token: String? = nil
    ) async throws -> String {
        if let client {
            return try await client.publish(topics: topics, data: data, id: id, type: type, isPrivate: isPrivate, token: token)
        }
        return try await hub.publish(Update(topics: topics, data: data, id: id, type: type, isPrivate: isPrivate))
    }

    /// Publishes one update on one topic; see ``publish(topics:data:id:type:isPrivate:token:)``.
    @discardableResult
    public func publish(topic: String, data: String, isPrivate: Bool = false, token: String? = nil) async throws -> String {
        try await publish(topics: [topic], data: data, isPrivate: isPrivate, token: token)
    }

    // MARK: the app's routes

    /// Sends a request to the served app (its own routes or the hub's) and returns the whole
    /// answer; throws ``TestHubError/notServed`` for an in-process hub.
    ///
    /// - Parameters:
    ///   - path: The path and query, from `/`.
    ///   - method: The HTTP method.
    ///   - body: A body, sent as is (set its `Content-Type` in `headers`).
    ///   - headers: Extra header fields.
    ///   - timeout: How long the whole exchange may take.
    public func request(
        _ path: String,
        method: HTTPMethod = .GET,
        body: String? = nil,
        headers: [(String, String)] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> TestResponse {
        guard let baseURL else { throw TestHubError.notServed }
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
        let answer = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return TestResponse(status: Int(response.status.code), headers: response.headers, body: String(buffer: answer))
    }

    // MARK: tokens

    /// A Mercure 0.x JWT (the `mercure` claim) signed with the hub's ``key``: `publish` lists the
    /// selectors the bearer may publish to, `subscribe` those whose private updates it receives.
    /// Throws ``TestHubError/noKey`` when the hub was started without `key`.
    public func mintToken(
        publish: [String] = [],
        subscribe: [String] = [],
        payload: JSONValue? = nil,
        expiresIn: Duration = .seconds(3600)
    ) async throws -> String {
        guard let key else { throw TestHubError.noKey }
        return try await Self.mintToken(key: key, publish: publish, subscribe: subscribe, payload: payload, expiresIn: expiresIn)
    }

    /// A Mercure 0.x JWT signed with `key` (HS256), as `herald token` mints it.
    public static func mintToken(
        key: String,
        publish: [String] = [],
        subscribe: [String] = [],
        payload: JSONValue? = nil,
        expiresIn: Duration = .seconds(3600)
    ) async throws -> String {
        try await HeraldKey(key).mintToken(
            publish: publish, subscribe: subscribe, payload: payload, expiresAt: Date().addingTimeInterval(expiresIn.seconds)
        )
    }

    /// A Mercure 1.0 access token (RFC 9068, `typ: at+jwt`) signed with `key` (HS256), as
    /// `herald token --access-token` mints it. Its `aud` must be the hub's resource identifier:
    /// for a served test hub without `resourceIdentifier`, its ``url``.
    public static func mintAccessToken(
        key: String,
        audience: String,
        issuer: String? = nil,
        publish: [MercureAccessToken.Matcher] = [],
        subscribe: [MercureAccessToken.Matcher] = [],
        expiresIn: Duration = .seconds(3600)
    ) async throws -> String {
        var token = MercureAccessToken(
            issuer: issuer, audience: [audience], expiresAt: Date().addingTimeInterval(expiresIn.seconds)
        )
        token.publish = publish
        token.subscribe = subscribe
        return try await HeraldKey(key).sign(token)
    }
}

/// Why a ``TestHub`` call could not be made.
public enum TestHubError: Error, Hashable, CustomStringConvertible {
    /// Minting needs the key the hub verifies tokens with: start it with `run(key:)`.
    case noKey
    /// The server did not report its port.
    case didNotStart
    /// An HTTP request to an in-process hub, which has no server.
    case notServed

    public var description: String {
        switch self {
        case .noKey: "the test hub has no key: start it with TestHub.run(key:)"
        case .didNotStart: "the test server did not start"
        case .notServed: "an in-process test hub serves no HTTP: use TestHub.run"
        }
    }
}

/// A whole answer of the served app.
public struct TestResponse: Sendable {
    /// The status code.
    public let status: Int
    /// The header fields.
    public let headers: HTTPHeaders
    /// The body, as UTF-8 text.
    public let body: String
}

/// A parser shared by one in-process subscription's writes (called one after another).
private final class ParserBox: Sendable {
    private let parser = Mutex(ServerSentEventParser())

    func feed(_ buffer: ByteBuffer) throws -> [ServerSentEventParser.Element] {
        try parser.withLock { try $0.feed(buffer) }
    }
}

extension Duration {
    /// In seconds, as a `TimeInterval`.
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
