import HeraldClient
import HeraldHTTP
import HeraldHub
import HeraldTesting
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
    package typealias Pipeline = LoopbackServer.Pipeline

    /// Runs a server (hub routes, plus whatever `mount` adds, given the hub's endpoint; the
    /// in-memory broker unless `broker` is given) for the duration of `body`, then shuts it
    /// down gracefully; returns how long the shutdown took (from the trigger until every
    /// service has returned).
    @discardableResult
    package static func run(
        hub hubConfiguration: HubConfiguration = HubConfiguration(),
        broker: (any Broker)? = nil,
        http httpConfiguration: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        pipeline: Pipeline = .herald,
        mount: (Router<HeraldRequestContext>, HeraldEndpoint) -> Void = { _, _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws -> Duration {
        try await LoopbackServer.run(hub: hubConfiguration, broker: broker, http: httpConfiguration, pipeline: pipeline, mount: mount) {
            hub, endpoint, port in
            try await body(TestServer(hub: hub, endpoint: endpoint, port: port))
        }.shutdown
    }
}

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
    package static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.herald, .herald), (.publishHandler, .publishHandler), (.router, .router): true
        default: false
        }
    }
}
