import ArgumentParser
import CoreMetrics
import HeraldChat
import HeraldHTTP
import HeraldHub
import HeraldRedis
import Hummingbird
import HummingbirdHTTP2
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

import Foundation

/// `herald serve`: runs the hub (and the demo pages) until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the hub (default command). Flags override HERALD_* environment variables."
    )

    @Option(help: "Address to bind (env HERALD_HOST, default 127.0.0.1).")
    var host: String?
    @Option(help: "Port to listen on, 0 for any free port (env HERALD_PORT, default 8080).")
    var port: Int?
    // `.unconditional`: a PEM value starts with "-----BEGIN", which would otherwise read as a flag.
    @Option(parsing: .unconditional, help: "Secret (HS256) or PEM public key verifying publisher JWTs (env HERALD_PUBLISHER_KEY).")
    var publisherKey: String?
    @Option(parsing: .unconditional, help: "Secret or PEM public key verifying subscriber JWTs (env HERALD_SUBSCRIBER_KEY).")
    var subscriberKey: String?
    @Option(help: "JWT algorithm: HS256, RS256 or ES256 (env HERALD_JWT_ALGORITHM, default HS256).")
    var jwtAlgorithm: String?
    @Option(help: "Events kept for replay (env HERALD_HISTORY_SIZE, default 10000).")
    var historySize: Int?

    @Option(help: "Queued deliveries (waiting updates x their subscribers) per event loop before publishers are held back; 0: never (env HERALD_MAX_FANOUT_BACKLOG, default 65536).")
    var maxFanOutBacklog: Int?
    @Option(help: "Seconds between heartbeats on idle streams, 0 disables (env HERALD_HEARTBEAT, default 15).")
    var heartbeat: Int?
    @Option(help: "Largest publish body in bytes (env HERALD_MAX_BODY_SIZE, default 1048576).")
    var maxBodySize: Int?
    @Option(help: "Reconnection delay in ms sent to clients as retry: (env HERALD_RETRY).")
    var retry: Int?
    @Option(help: "Allow subscribers without a token (env HERALD_ANONYMOUS, default true).")
    var anonymous: Bool?
    @Option(help: "Web origins (scheme://host[:port]) allowed to use the hub from the browser, comma- or space-separated; * for any, without cookies (env HERALD_CORS_ORIGINS, default none).")
    var corsOrigins: String?
    @Option(help: "Trusted issuer (iss) of Mercure 1.0 access tokens, verified with the keys above; repeatable (env HERALD_ISSUER, comma-separated; default none: iss not checked).")
    var issuer: [String] = []
    @Option(help: "The hub's resource identifier: the aud Mercure 1.0 access tokens must carry (env HERALD_RESOURCE_IDENTIFIER; default: the request's own URL).")
    var resourceIdentifier: String?
    @Option(help: "Cookie that may carry a Mercure 1.0 access token (env HERALD_ACCESS_TOKEN_COOKIE, default __Secure-mercure_access_token).")
    var accessTokenCookie: String?
    @Option(help: "Run distributed: redis://[user:password@]host[:port][/db] (env HERALD_REDIS_URL; default in-memory).")
    var redis: String?
    @Option(help: "Prometheus metrics at /metrics: local (loopback clients only), public or off (env HERALD_METRICS, default local).")
    var metrics: String?
    @Option(help: "Serve the demo chat at / (env HERALD_CHAT, default true).")
    var chat: Bool?
    @Option(help: "Publish Mercure presence updates for every subscription (env HERALD_SUBSCRIPTION_EVENTS, default false; the chat's rooms have presence anyway).")
    var subscriptionEvents: Bool?
    @Option(help: "Most topic selectors per subscription; more is refused with 400 (env HERALD_MAX_SELECTORS, default 64).")
    var maxSelectors: Int?
    @Option(help: "Longest topic or topic selector in bytes; longer is refused with 400 (env HERALD_MAX_TOPIC_LENGTH, default 2048).")
    var maxTopicLength: Int?
    @Option(help: "Matching states of all distinct template selectors in use; a subscription adding new templates beyond it gets 503 + Retry-After, 0: no bound (env HERALD_MAX_MATCHING_STATES, default 16384).")
    var maxMatchingStates: Int?
    @Option(help: "File holding the server's own secret (env HERALD_SECRET_FILE, default ~/.local/state/herald/secret).")
    var secretFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error (env HERALD_LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(help: "PEM certificate chain: serve HTTPS, with HTTP/2 (env HERALD_TLS_CERT; needs --tls-key).")
    var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert (env HERALD_TLS_KEY).")
    var tlsKey: String?
    @Option(help: "Most connections open at once; more are closed when accepted (env HERALD_MAX_CONNECTIONS, default: the open-files limit minus 64).")
    var maxConnections: Int?
    @Option(help: "Seconds a request head may take to arrive (env HERALD_HEAD_TIMEOUT, default 10).")
    var headTimeout: Double?
    @Option(help: "Seconds a request body may take to arrive after its head (env HERALD_BODY_TIMEOUT, default 10).")
    var bodyTimeout: Double?
    @Option(help: "Seconds an idle keep-alive connection is kept open (env HERALD_IDLE_TIMEOUT, default 60).")
    var idleTimeout: Double?
    @Option(help: "Seconds requests in progress get on SIGTERM/SIGINT before every connection is closed (env HERALD_SHUTDOWN_TIMEOUT, default 10).")
    var shutdownTimeout: Double?
    @Option(help: "JSON file of settings: keys are these flags' names without dashes (or their HERALD_* variables); flags and the environment win over it (env HERALD_CONFIG).")
    var config: String?
    @Option(help: "Log lines as text or json (one object per line, for log shippers) (env HERALD_LOG_FORMAT, default text).")
    var logFormat: String?

    /// Each flag's environment variable, as its help names it ("(env HERALD_…"): the names a
    /// configuration file may use.
    static var settingVariables: [String: String] {
        let help = helpMessage(columns: 100_000)
        var variables: [String: String] = [:]
        var flag: Substring = ""  // the option whose help is being read (it may start on the next line)
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("--") {
                flag = trimmed.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            }
            guard !flag.isEmpty, let envStart = line.range(of: "(env HERALD_") else { continue }
            let variable = line[line.index(envStart.upperBound, offsetBy: -"HERALD_".count)...]
                .prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
            variables[String(flag)] = String(variable)
            flag = ""
        }
        return variables
    }

    func run() async throws {
        if let path = config ?? Environment.string("HERALD_CONFIG") {
            try Environment.loadConfigurationFile(path, variables: Self.settingVariables)
        }
        let settings = try ServeSettings(self)
        if settings.jsonLogs {
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
        }
        var logger = Logger(label: "herald")
        logger.logLevel = settings.logLevel
        let broker: any Broker
        if let redis = settings.redis {
            broker = RedisBroker(configuration: redis, logger: logger)
            say("Distributed mode: updates go through Redis at \(redis.redis.host):\(redis.redis.port).")
        } else {
            broker = InMemoryBroker()
        }
        // The metrics backend, bootstrapped before the hub makes its instruments; with
        // `--metrics off` none is, and the hub counts nothing beyond its own statistics.
        let metricsRegistry: PrometheusCollectorRegistry?
        if settings.metrics == .off {
            metricsRegistry = nil
        } else {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(HeraldPrometheusFactory(registry: registry))
            metricsRegistry = registry
        }
        let hub = Hub(configuration: settings.hub, broker: broker, logger: logger)
        let router = Router(context: HeraldRequestContext.self)
        let endpoint = router.addHerald(hub, configuration: settings.http, logger: logger)
        router.get("/healthz") { _, _ in "ok\n" }
        if let metricsRegistry {
            router.addHeraldMetrics(allowRemote: settings.metrics == .public) {
                ByteBuffer(bytes: metricsRegistry.emitToBuffer())
            }
        }
        if let chat = settings.chat {
            router.addHeraldChat(hub, configuration: chat, logger: logger)
        }
        for notice in settings.notices { say(notice) }

        let host = settings.host
        let serverLogger = logger
        let scheme = settings.tls == nil ? "http" : "https"
        let app = Application(
            router: router,
            // Hub requests are answered on the event loop, before the router: over plain HTTP/1,
            // and over TLS both on HTTP/1.1 and in HTTP/2 streams.
            server: try settings.tls.map { try ServeTLS.server($0, endpoint: endpoint) } ?? .herald(endpoint),
            configuration: .init(address: .hostname(host, port: settings.port), serverName: "herald"),
            onServerRunning: { channel in
                do {
                    try await endpoint.guardAccepts(on: channel)
                } catch {
                    serverLogger.error("could not guard the listener", metadata: ["error": "\(error)"])
                }
                let port = channel.localAddress?.port ?? settings.port
                let shownHost = host.contains(":") ? "[\(host)]" : host
                say("Herald listening on \(scheme)://\(shownHost):\(port)/.well-known/mercure")
            },
            logger: logger
        )
        if settings.http.publisherKey == nil {
            say("No publisher key configured: publishing is accepted from loopback clients only.")
        }
        // Services stop in reverse order: the hub first (streams get a final comment and
        // close), then the HTTP server, which then has no endless responses to wait for.
        let group = ServiceGroup(
            configuration: .init(
                services: [app, hub],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        // The bound holds for the whole process too, whatever a service does on shutdown
        // (a stalled broker, say): once the grace period and a little more have passed after
        // the signal, the process exits anyway.
        let bound = settings.http.shutdownTimeout + .seconds(1)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    try await Task.sleep(for: bound)
                    serverLogger.warning("shutdown took longer than the grace period: exiting")
                    Foundation.exit(0)
                }
            }
            try await group.run()
            tasks.cancelAll()
        }
    }
}

/// Flags and environment resolved into the hub's and routes' configurations.
struct ServeSettings {
    var host: String
    var port: Int
    var hub = HubConfiguration()
    var http = HeraldHTTPConfiguration()
    var logLevel: Logger.Level
    /// One JSON object per log line instead of text.
    var jsonLogs: Bool
    var chat: HeraldChatConfiguration?
    /// Who gets /metrics.
    var metrics: MetricsAccess
    var redis: RedisBrokerConfiguration?
    /// HTTPS (and HTTP/2) when a certificate and key are given.
    var tls: TLSConfiguration?
    var notices: [String] = []

    init(_ flags: Serve) throws {
        host = flags.host ?? Environment.string("HERALD_HOST") ?? "127.0.0.1"
        port = try flags.port ?? Environment.int("HERALD_PORT") ?? 8080
        guard (0...65535).contains(port) else { throw ConfigurationError("port must be 0...65535") }

        let algorithmName = flags.jwtAlgorithm ?? Environment.string("HERALD_JWT_ALGORITHM") ?? "HS256"
        guard let algorithm = HeraldKey.Algorithm(rawValue: algorithmName.uppercased()) else {
            throw ConfigurationError("unknown JWT algorithm '\(algorithmName)' (HS256, RS256 or ES256)")
        }
        http.publisherKey = (flags.publisherKey ?? Environment.string("HERALD_PUBLISHER_KEY")).map {
            HeraldKey($0, algorithm: algorithm)
        }
        http.subscriberKey = (flags.subscriberKey ?? Environment.string("HERALD_SUBSCRIBER_KEY")).map {
            HeraldKey($0, algorithm: algorithm)
        }
        for (name, key) in [("publisher", http.publisherKey), ("subscriber", http.subscriberKey)] {
            do { try key?.validate() } catch { throw ConfigurationError("\(name) key: \(error)") }
        }
        http.allowAnonymousSubscribers = try flags.anonymous ?? Environment.bool("HERALD_ANONYMOUS") ?? true
        http.maxBodySize = try flags.maxBodySize ?? Environment.int("HERALD_MAX_BODY_SIZE") ?? http.maxBodySize
        guard http.maxBodySize > 0 else { throw ConfigurationError("max body size must be positive") }

        if let origins = flags.corsOrigins ?? Environment.string("HERALD_CORS_ORIGINS") {
            do {
                http.corsOrigins = try HeraldHTTPConfiguration.parseCORSOrigins(origins)
            } catch {
                throw ConfigurationError(error.description)
            }
        }

        let issuers = flags.issuer.isEmpty
            ? (Environment.string("HERALD_ISSUER") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            : flags.issuer
        http.issuers = issuers.filter { !$0.isEmpty }
        if let identifier = flags.resourceIdentifier ?? Environment.string("HERALD_RESOURCE_IDENTIFIER") {
            guard let url = URL(string: identifier), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()), url.host != nil
            else {
                throw ConfigurationError("resource identifier must be an absolute http(s) URL, got '\(identifier)'")
            }
            http.resourceIdentifier = identifier
        }
        if let cookie = flags.accessTokenCookie ?? Environment.string("HERALD_ACCESS_TOKEN_COOKIE") {
            let separators = Set("()<>@,;:\\\"/[]?={} \t")
            guard !cookie.isEmpty, cookie.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 }),
                !cookie.contains(where: separators.contains)
            else {
                throw ConfigurationError("access token cookie name '\(cookie)' is not a cookie name (RFC 6265 token)")
            }
            http.accessTokenCookieName = cookie
        }

        hub.historySize = try flags.historySize ?? Environment.int("HERALD_HISTORY_SIZE") ?? hub.historySize
        guard hub.historySize >= 0 else { throw ConfigurationError("history size must be >= 0") }
        if let backlog = try flags.maxFanOutBacklog ?? Environment.int("HERALD_MAX_FANOUT_BACKLOG") {
            guard backlog >= 0 else { throw ConfigurationError("max fan-out backlog must be >= 0") }
            hub.maxFanOutBacklog = backlog == 0 ? nil : backlog
        }
        let heartbeat = try flags.heartbeat ?? Environment.int("HERALD_HEARTBEAT") ?? 15
        guard heartbeat >= 0 else { throw ConfigurationError("heartbeat must be >= 0 seconds") }
        hub.heartbeatInterval = heartbeat == 0 ? nil : .seconds(Int64(heartbeat))
        hub.retryHint = try flags.retry ?? Environment.int("HERALD_RETRY")
        if let retry = hub.retryHint, retry < 0 { throw ConfigurationError("retry must be >= 0 ms") }

        switch (flags.tlsCert ?? Environment.string("HERALD_TLS_CERT"), flags.tlsKey ?? Environment.string("HERALD_TLS_KEY")) {
        case (let certificate?, let key?): tls = try ServeTLS.configuration(certificate: certificate, key: key)
        case (nil, nil): tls = nil
        default: throw ConfigurationError("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
        }
        switch (flags.metrics ?? Environment.string("HERALD_METRICS") ?? "local").lowercased() {
        case "local": metrics = .local
        case "public": metrics = .public
        case "off": metrics = .off
        case let other: throw ConfigurationError("metrics must be local, public or off, got '\(other)'")
        }
        hub.publishesSubscriptionEvents =
            try flags.subscriptionEvents ?? Environment.bool("HERALD_SUBSCRIPTION_EVENTS") ?? false
        hub.maxSelectors = try flags.maxSelectors ?? Environment.int("HERALD_MAX_SELECTORS") ?? hub.maxSelectors
        guard hub.maxSelectors > 0 else { throw ConfigurationError("max selectors must be positive") }
        hub.maxTopicLength = try flags.maxTopicLength ?? Environment.int("HERALD_MAX_TOPIC_LENGTH") ?? hub.maxTopicLength
        guard hub.maxTopicLength > 0 else { throw ConfigurationError("max topic length must be positive") }
        let matchingStates =
            try flags.maxMatchingStates ?? Environment.int("HERALD_MAX_MATCHING_STATES") ?? hub.maxMatchingStates ?? 0
        guard matchingStates >= 0 else { throw ConfigurationError("max matching states must be 0 (no bound) or positive") }
        hub.maxMatchingStates = matchingStates == 0 ? nil : matchingStates
        let secretPath = flags.secretFile ?? Environment.string("HERALD_SECRET_FILE") ?? ServerSecret.defaultPath()
        let secret: String
        if let stored = ServerSecret.load(path: secretPath) {
            secret = stored
        } else {
            secret = ServerSecret.ephemeral()
            notices.append("Could not use \(secretPath); chat sessions will not survive a restart.")
        }
        if http.subscriberKey == nil {
            // Presence and the subscriptions API are private: the hub needs a key to verify the
            // tokens the chat hands out, so it derives one from its own secret.
            http.subscriberKey = HeraldKey(secret + ":subscriber")
        }
        if try flags.chat ?? Environment.bool("HERALD_CHAT") ?? true {
            if let key = http.subscriberKey, key.algorithm == .hs256 {
                chat = HeraldChatConfiguration(sessionSecret: secret + ":session", subscriberKey: key)
                chat?.hubPath = http.path
                // The chat's "who is here" needs presence, for its rooms only.
                hub.subscriptionEventSelectors.append(HeraldChatConfiguration.roomSelector)
            } else {
                notices.append("Chat demo disabled: it signs hub tokens, which needs an HS256 subscriber key.")
            }
        }

        if let url = flags.redis ?? Environment.string("HERALD_REDIS_URL") {
            do {
                var redis = try RedisBrokerConfiguration(url: url)
                redis.historySize = max(hub.historySize, 1)
                self.redis = redis
            } catch {
                throw ConfigurationError("bad Redis URL: \(error)")
            }
        }

        if let limit = try flags.maxConnections ?? Environment.int("HERALD_MAX_CONNECTIONS") {
            guard limit > 0 else { throw ConfigurationError("max connections must be positive") }
            http.maxConnections = limit
        }
        http.headTimeout = try seconds(flags.headTimeout, "HERALD_HEAD_TIMEOUT") ?? http.headTimeout
        http.bodyTimeout = try seconds(flags.bodyTimeout, "HERALD_BODY_TIMEOUT") ?? http.bodyTimeout
        http.idleTimeout = try seconds(flags.idleTimeout, "HERALD_IDLE_TIMEOUT") ?? http.idleTimeout
        http.shutdownTimeout = try seconds(flags.shutdownTimeout, "HERALD_SHUTDOWN_TIMEOUT") ?? http.shutdownTimeout
        if var redis {
            // Publishes in flight get half the grace period to be answered by Redis, then 503:
            // the answers go out before the process's own bound (grace period + 1 s) ends it.
            redis.shutdownTimeout = min(redis.commandTimeout, http.shutdownTimeout / 2)
            self.redis = redis
        }

        let levelName = flags.logLevel ?? Environment.string("HERALD_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ConfigurationError("unknown log level '\(levelName)'")
        }
        logLevel = level
        switch (flags.logFormat ?? Environment.string("HERALD_LOG_FORMAT") ?? "text").lowercased() {
        case "text": jsonLogs = false
        case "json": jsonLogs = true
        case let other: throw ConfigurationError("log format must be text or json, got '\(other)'")
        }
    }
}

/// A timeout in seconds from its flag or environment variable (positive, fractions allowed).
private func seconds(_ flag: Double?, _ variable: String) throws -> Duration? {
    var value = flag
    if value == nil, let text = Environment.string(variable) {
        guard let parsed = Double(text) else { throw ConfigurationError("\(variable) must be a number of seconds, got '\(text)'") }
        value = parsed
    }
    guard let value else { return nil }
    guard value > 0, value.isFinite else { throw ConfigurationError("\(variable) must be a positive number of seconds") }
    return .milliseconds(Int64((value * 1000).rounded()))
}

/// Prints a line to standard output unbuffered, so scripts reading a pipe see it at once.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Who `/metrics` is served to: loopback clients, anyone, or nobody.
enum MetricsAccess {
    case local, `public`, off
}
