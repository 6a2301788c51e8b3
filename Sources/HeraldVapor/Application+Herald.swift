#if Vapor
import HeraldHTTP
import HeraldHub
import NIOConcurrencyHelpers
import NIOHTTPTypesHTTP1
import Vapor

extension Application {
    /// Mounts Herald's Mercure hub in this Vapor app: `GET` to subscribe, `POST` to publish, at
    /// `endpoint.configuration.path` (under `prefix` when given, e.g. `"api"` for
    /// `/api/.well-known/mercure`), the subscriptions API under it and `{path}/herald.js`.
    ///
    /// Every request on these paths goes to the same protocol core as `herald serve` and the
    /// Hummingbird routes (status, headers and bodies are the same; see the README for the few
    /// things Vapor itself answers differently). Streams are written by the hub's shard straight
    /// into the response, with no task per subscriber, when the hub runs on the app's event
    /// loops (`HubConfiguration.eventLoopGroup`, both `.singleton` by default).
    ///
    /// With `runsHub` (the default) the app also runs the hub (`Hub.run()`, which runs its
    /// broker) from boot until shutdown, and shuts it down first on shutdown, so every stream
    /// gets the hub's "shutting down, please reconnect" comment before the server stops. Pass
    /// false when something else runs it (a `ServiceGroup`).
    ///
    /// ```swift
    /// let hub = Hub()
    /// app.herald(HeraldEndpoint(hub: hub, configuration: HeraldHTTPConfiguration()))
    /// ```
    @discardableResult
    public func herald(_ endpoint: HeraldEndpoint, prefix: String = "", runsHub: Bool = true) -> HeraldEndpoint {
        let responder = HeraldVaporResponder(endpoint: endpoint, prefix: prefix)
        let hubPath = responder.prefix + endpoint.configuration.path
        let paths = [hubPath, hubPath + "/subscriptions", hubPath + "/subscriptions/**"]
        // Every method on these paths goes to the core, which answers the ones it does not
        // take with 405 and `Allow` (HEAD too: Vapor would otherwise answer it with the GET route).
        let methods: [HTTPMethod] = [.GET, .POST, .OPTIONS, .HEAD, .PUT, .PATCH, .DELETE]
        for path in paths {
            for method in methods {
                // `.stream`: the core reads a publish's body itself, within `maxBodySize`, and
                // only once the request's head was found acceptable.
                self.on(method, path.pathComponents, body: .stream) { request async -> Response in
                    await responder.respond(to: request)
                }
            }
        }
        self.get((hubPath + "/herald.js").pathComponents) { request -> Response in
            let answer = HeraldScript.shared.answer(ifNoneMatch: request.headers[.ifNoneMatch])
            return Response(status: HTTPResponseStatus(statusCode: answer.status.code), headers: HTTPHeaders(answer.headers), body: answer.body.map { .init(buffer: $0) } ?? .empty)
        }
        if runsHub { self.lifecycle.use(HubLifecycle(hub: endpoint.hub)) }
        return endpoint
    }
}

/// Runs the hub for as long as the app runs: `Hub.run()` from boot, and on shutdown
/// `Hub.shutdown()` (every stream ends with the hub's notice) before Vapor stops its server.
/// Vapor's lifecycle is the app's service model, so the hub's one long-lived task lives here.
private final class HubLifecycle: LifecycleHandler {
    let hub: Hub
    private let running = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(hub: Hub) {
        self.hub = hub
    }

    func didBoot(_ application: Application) throws {
        // Both boots call this (`didBootAsync` defaults to it); a second call changes nothing.
        let hub = self.hub
        let logger = application.logger
        running.withLockedValue { task in
            guard task == nil else { return }
            task = Task {
                do {
                    try await hub.run()
                } catch {
                    logger.error("herald hub stopped", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        hub.shutdown()
        await running.withLockedValue { $0 }?.value
    }

    func shutdown(_ application: Application) {
        // Blocking shutdown: the hub's streams end now; its task ends on its own right after.
        hub.shutdown()
    }
}
#endif
