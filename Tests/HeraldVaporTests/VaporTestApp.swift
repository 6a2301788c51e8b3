#if Vapor
import HeraldHTTP
import HeraldHub
import HeraldVapor
import Logging
import Vapor

/// A real Vapor app with the hub mounted (`app.herald`), on a free loopback port, for the
/// duration of `body`; then shut down as a Vapor app is (its lifecycle handlers first).
struct VaporTestApp: Sendable {
    let hub: Hub
    let endpoint: HeraldEndpoint
    let port: Int

    static func run(
        hub hubConfiguration: HubConfiguration = HubConfiguration(),
        http: HeraldHTTPConfiguration = HeraldHTTPConfiguration(),
        prefix: String = "",
        routes: @Sendable (Application) -> Void = { _ in },
        _ body: (VaporTestApp, Application) async throws -> Void
    ) async throws {
        var logger = Logger(label: "herald.vapor.test")
        logger.logLevel = .warning
        // Not `.testing`: its arguments are the test runner's, which Vapor's command parser refuses.
        let app = try await Application.make(Environment(name: "testing", arguments: ["vapor"]), .singleton, logger: logger)
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = 0
        let hub = Hub(configuration: hubConfiguration, logger: logger)
        let endpoint = app.herald(HeraldEndpoint(hub: hub, configuration: http, logger: logger), prefix: prefix)
        routes(app)
        do {
            try await app.startup()
            guard let port = app.http.server.shared.localAddress?.port else { throw VaporTestAppError.noPort }
            try await body(VaporTestApp(hub: hub, endpoint: endpoint, port: port), app)
        } catch {
            if !app.didShutdown { try? await app.asyncShutdown() }
            throw error
        }
        // A test may have shut the app down itself.
        if !app.didShutdown { try await app.asyncShutdown() }
    }
}

enum VaporTestAppError: Error { case noPort }
#endif
