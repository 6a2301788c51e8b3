import HTTPTypes
import HeraldHub
import Logging
import NIOCore

/// The protocol core: Mercure's rules (0.x and 1.0, per request) in one place, for every
/// transport. It turns a `HubRequest` into a `HubDecision` and knows nothing of NIO channels,
/// Hummingbird or any other framework: a transport parses bytes into a request, asks `decide`
/// (or `publishNow`, the fast path's question), and writes what it is told.
///
/// Which protocol a subscribe speaks is read from its own query: `topic=` is Mercure 0.x (URI
/// templates, `Last-Event-ID` answered with the newest id), `match=` / `match_exact=` /
/// `match_urlpattern=` are Mercure 1.0 (no template, `Mercure-Last-Event-ID`, no token in the
/// query string). A request mixing both is refused: the two disagree on what a selector and a
/// replay answer mean.
package struct HubProtocol: Sendable {
    let hub: Hub
    let configuration: HeraldHTTPConfiguration
    let authority: any HubAuthority
    let cors: CORSPolicy
    let logger: Logger
    private let subscriptionsPath: String

    init(hub: Hub, configuration: HeraldHTTPConfiguration, authority: any HubAuthority, logger: Logger) {
        self.hub = hub
        self.logger = logger
        self.configuration = configuration
        self.authority = authority
        self.cors = CORSPolicy(configuration.corsOrigins)
        self.subscriptionsPath = configuration.path + "/subscriptions"
    }

    // MARK: what a request is

    /// The hub's resources, by path.
    enum Resource {
        /// `{hub}`: subscribe (GET) and publish (POST).
        case hub
        /// `{hub}/subscriptions[/...]`: the subscriptions API (GET).
        case subscriptions
        /// Not the hub's.
        case none
    }

    func resource(_ path: Substring) -> Resource {
        if path == configuration.path { return .hub }
        if path == subscriptionsPath || path.hasPrefix(subscriptionsPath + "/") { return .subscriptions }
        return .none
    }

    /// The methods each resource takes (`Allow`, preflights, 405s). HEAD is not one: it would
    /// open a stream for nothing.
    static func methods(_ resource: Resource) -> [HTTPRequest.Method] {
        switch resource {
        case .hub: [.get, .post]
        case .subscriptions: [.get]
        case .none: []
        }
    }

    /// `Allow` for a resource taking `methods` (and `OPTIONS`, the preflight).
    static func allowHeader(_ methods: [HTTPRequest.Method]) -> String {
        (methods + [.options]).map(\.rawValue).joined(separator: ", ")
    }

    /// The protocol version a subscribe speaks.
    enum Version: Sendable {
        /// `topic=`: Mercure 0.x.
        case v0
        /// `match=`, `match_exact=`, `match_urlpattern=`: Mercure 1.0.
        case v1
    }

    /// What to do with a request.
    enum Decision {
        /// Publish this update, then answer with `publishAnswer`.
        case publish(Update)
        /// Open this subscription and stream it with `streamHeaders`.
        case subscribe(SubscribeIntent)
        /// Answer this (refusals, preflights, the subscriptions API, 405s).
        case answer(HubAnswer)
    }

    /// A subscription the core has authorized.
    package struct SubscribeIntent: Sendable {
        package var request: SubscribeRequest
        /// The selectors as asked for (for logs).
        package var rawSelectors: [String]
        var version: Version
        /// The replay asked for (header or query parameter), even empty; nil when none was.
        var askedLastEventID: String?
        /// A long-poll's longest wait (`longPollWait`); nil for a stream.
        var longPoll: TimeAmount? = nil
    }

    // MARK: deciding

    /// The decision for a whole request (its body read, within `maxBodySize`).
    func decide(_ request: HubRequest) async -> Decision {
        let origin = request.origin
        do throws(Refusal) {
            switch resource(request.path) {
            case .none:
                return .answer(Refusal(status: .notFound, reason: "not found").answer)
            case .hub:
                switch request.method {
                case .get:
                    let intent = try await subscribeIntent(request)
                    if let wait = intent.longPoll { return .answer(await longPoll(intent, wait: wait, origin: origin)) }
                    return .subscribe(intent)
                case .post: return .publish(try await publishUpdate(request))
                case .options: return .answer(preflight(request, methods: Self.methods(.hub)))
                default: throw methodNotAllowed(request.method, .hub)
                }
            case .subscriptions:
                switch request.method {
                case .get: return .answer(withCORS(try await subscriptions(request), origin: origin))
                case .options: return .answer(preflight(request, methods: Self.methods(.subscriptions)))
                default: throw methodNotAllowed(request.method, .subscriptions)
                }
            }
        } catch {
            var answer = withCORS(error.answer, origin: origin)
            // A HEAD answer has no content (RFC 9110 §9.3.2): over HTTP/2 a body after it is a
            // protocol error that ends the whole connection, every stream on it included.
            if request.method == .head { answer.body = "" }
            return .answer(answer)
        }
    }

    /// The fast path's question: the update a publish carries when it is valid and authorized
    /// without waiting (loopback without a key, or a token verified before); nil when the
    /// full path must decide (it then gives the answer, refusals included, with the same
    /// rules). Never refuses by itself, so a transport that saw only some header fields may ask.
    func publishNow(_ request: HubRequest) -> Update? {
        guard request.method == .post, request.origin == nil, refusalBeforeBody(request) == nil,
            let (update, query) = try? publishForm(request)
        else { return nil }
        guard authority.verifies(.publisher) else { return request.isLocalClient ? update : nil }
        guard let credentials = credentials(of: request, query: query, version: .v0),
            let grant = authority.cachedGrant(credentials, for: .publisher),
            (try? authorizePublish(update, grant: grant)) != nil
        else { return nil }
        return update
    }

    /// What a publish is refused for from its head alone, in this order: a query string that
    /// does not decode (400), not a form (415), a declared body over the limit (413), no
    /// credentials at all when a publisher key is set (401). Nil: the body may be read. Every
    /// transport asks this before reading a publish's body (and answers `Expect:
    /// 100-continue` with it instead of `100 Continue`).
    func refusalBeforeBody(_ request: HubRequest) -> Refusal? {
        let query: FormFields
        do {
            query = try decodeQuery(request)
        } catch {
            return error
        }
        guard Self.isForm(request.contentType) else {
            return Refusal(status: .unsupportedMediaType, reason: "expected Content-Type: application/x-www-form-urlencoded")
        }
        if let declared = request.contentLength, let length = Int(declared), length > configuration.maxBodySize {
            return .bodyTooLarge(configuration.maxBodySize)
        }
        if authority.verifies(.publisher), credentials(of: request, query: query, version: .v0) == nil {
            return .unauthorized("missing publisher token")
        }
        return nil
    }

    /// Publishes `update` and says what to answer: the id exactly, or why it failed.
    func publish(_ update: Update, origin: String?) async -> HubAnswer {
        do {
            return withCORS(.published(try await hub.publish(update)), origin: origin)
        } catch {
            if !(error is HubError) { logger.error("publish failed", metadata: ["error": "\(error)"]) }
            return withCORS(refusal(error).answer, origin: origin)
        }
    }

    /// The refusal for a hub error (a publish or a subscription the hub would not take).
    func refusal(_ error: any Error) -> Refusal {
        switch error as? HubError {
        case .invalidUpdate(let reason), .invalidSubscription(let reason): return .badRequest(reason)
        case .shuttingDown, .brokerUnavailable: return Refusal(status: .serviceUnavailable, reason: "\(error)")
        case .overloaded:
            // The hub-wide matching budget: frees up as subscribers leave.
            return Refusal(
                status: .serviceUnavailable,
                reason: "\(error)",
                headers: [.retryAfter: String(HubError.retryAfterSeconds)]
            )
        case nil: return Refusal(status: .serviceUnavailable, reason: "publish failed")
        }
    }

    // MARK: publish

    private func publishUpdate(_ request: HubRequest) async throws(Refusal) -> Update {
        if let refusal = refusalBeforeBody(request) { throw refusal }
        if request.body.readableBytes > configuration.maxBodySize { throw .bodyTooLarge(configuration.maxBodySize) }
        let (update, query) = try publishForm(request)
        guard authority.verifies(.publisher) else {
            try checkPublishOrigin(request, credentials: nil)
            if request.isLocalClient { return update }
            throw .forbidden(
                request.isForwarded
                    ? "no publisher key configured: a request forwarded by a proxy is not a loopback client"
                    : "no publisher key configured: publishing is accepted from loopback only"
            )
        }
        guard let credentials = credentials(of: request, query: query, version: .v0) else {
            throw .unauthorized("missing publisher token")
        }
        try checkPublishOrigin(request, credentials: credentials.source)
        try authorizePublish(update, grant: try await authority.grant(credentials, for: .publisher))
        return update
    }

    /// The query and the update of a publish request, or a 400 saying what is wrong.
    private func publishForm(_ request: HubRequest) throws(Refusal) -> (Update, FormFields) {
        let query = try decodeQuery(request)
        if request.body.readableBytes == 0 { throw .badRequest("empty body: missing topic") }
        return (try Self.decodeUpdate(request.body, maxTopicLength: hub.configuration.maxTopicLength), query)
    }

    /// Returns when `grant` allows publishing every topic of `update`. A publish authorized
    /// with a Mercure 1.0 access token is a 1.0 publish, and a 1.0 update has exactly one topic
    /// (the specification's "Publication": more than one `topic` field is a 400); 0.x keeps
    /// its alternate topics.
    private func authorizePublish(_ update: Update, grant: HubGrant) throws(Refusal) {
        if grant.isAccessToken, update.topics.count > 1 {
            throw .badRequest("a Mercure 1.0 update has exactly one topic (\(update.topics.count) topic fields)")
        }
        guard let allowed = grant.publish else {
            throw grant.forbidden(grant.isAccessToken ? "token grants no publish action" : "token has no mercure.publish claim")
        }
        if let topic = update.topics.first(where: { topic in !allowed.contains { $0.matches(topic) } }) {
            throw grant.forbidden("not allowed to publish to \(topic)")
        }
    }

    /// The update a publish form describes, or a 400 saying what is wrong with it (a topic
    /// longer than `maxTopicLength` too, before any claim's template is matched against it).
    static func decodeUpdate(_ body: ByteBuffer, maxTopicLength: Int) throws(Refusal) -> Update {
        let form: FormFields
        do {
            form = try FormFields(decoding: body.readableBytesView)
        } catch {
            throw .badRequest(error.reason)
        }
        let topics = form.values("topic")
        if topics.isEmpty { throw .badRequest("missing topic") }
        var update = Update(topics: topics, data: try single("data", of: form) ?? "")
        update.id = try single("id", of: form)
        update.type = try single("type", of: form)
        if let retry = try single("retry", of: form) {
            guard !retry.isEmpty, retry.utf8.count <= 10, retry.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(retry)
            else {
                throw .badRequest("retry must be a non-negative integer (milliseconds)")
            }
            update.retry = value
        }
        // Mercure: the field's presence makes the update private, whatever its value (even
        // empty or "off"), so a form that names it can never leak to anonymous subscribers.
        update.isPrivate = form.contains("private")
        // Mercure reserves ids starting with `#` (both versions: the spec's id must not start
        // with it) and the `mercure` event type (1.0's subscription events; refused for every
        // publish, since one hub serves both versions to the same subscribers).
        if update.id?.first == "#" { throw .badRequest("id must not start with #") }
        if update.type == "mercure" { throw .badRequest("type 'mercure' is reserved for subscription events") }
        // The hub's own namespace (its subscription events live under it): a publisher, even one
        // allowed every topic, must not forge them (Mercure: 403).
        if let topic = topics.first(where: { Self.isHubNamespace($0) }) {
            throw .forbidden("topic \(topic) is in the hub's own namespace (\(Self.hubNamespace))")
        }
        do {
            try update.validate(maxTopicLength: maxTopicLength)
        } catch {
            throw .badRequest(error.reason)
        }
        return update
    }

    /// Where the hub's subscription events live; no publisher may use it.
    static let hubNamespace = "/.well-known/mercure/"

    /// Whether `topic` (a relative IRI, or an absolute URL: its path) is in `hubNamespace`,
    /// compared without ASCII case and with every `%XX` escape decoded (a percent-encoded or
    /// differently-cased spelling is the same place). A malformed escape is kept as it is and
    /// does not stop the decoding of the others, so it cannot hide an escaped spelling.
    ///
    /// Byte by byte, without allocating: it runs for every topic of every publish (through
    /// Foundation's percent decoding and lowercasing it was an eighth of a publish's CPU).
    static func isHubNamespace(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { bytes in
            var start = 0
            if let scheme = firstSchemeSeparator(in: bytes) {
                // An absolute URL: its path starts at the first `/` after the authority.
                guard let slash = bytes[(scheme + 3)...].firstIndex(of: UInt8(ascii: "/")) else { return false }
                start = slash
            }
            var index = start
            for expected in hubNamespaceBytes {
                guard index < bytes.count else { return false }
                var byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "%"), index + 1 < bytes.count,
                    let high = bytes[index].asciiHexValue, let low = bytes[index + 1].asciiHexValue
                {
                    byte = high << 4 | low
                    index += 2
                }
                if (0x41...0x5A).contains(byte) { byte |= 0x20 }
                if byte != expected { return false }
            }
            return true
        }
    }

    private static let hubNamespaceBytes = Array(hubNamespace.utf8)

    /// Where the first `://` of `bytes` starts.
    private static func firstSchemeSeparator(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard bytes.count >= 3 else { return nil }
        for index in 0...(bytes.count - 3)
        where bytes[index] == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: "/") && bytes[index + 2] == UInt8(ascii: "/") {
            return index
        }
        return nil
    }

    private static func single(_ name: String, of form: FormFields) throws(Refusal) -> String? {
        do {
            return try form.single(name)
        } catch {
            throw .badRequest(error.reason)
        }
    }

    /// Refuses a publish that a web page sent with credentials it did not choose. Loopback (a
    /// keyless hub) and cookies come with the visitor's browser, so a page on another origin
    /// may use them only when its origin is listed by name; `*` covers bearer tokens only.
    /// A keyless hub also takes same-origin publishes only under a loopback host name: a page
    /// whose own name was rebound to 127.0.0.1 (DNS rebinding) is same-origin with itself.
    private func checkPublishOrigin(_ request: HubRequest, credentials: CredentialSource?) throws(Refusal) {
        guard let origin = request.origin else { return }
        let ambient = credentials == nil || credentials == .cookie
        if request.isSameOriginOrNoOrigin {
            if credentials == nil, !request.isAddressedToLoopback, !cors.isListed(origin) {
                throw .forbidden("publish refused: a hub without a publisher key takes browser publishes only from pages on a loopback host name")
            }
            return
        }
        if ambient ? cors.isListed(origin) : cors.allows(origin) { return }
        if credentials == .cookie { throw .forbidden("cross-origin publish with a cookie is refused") }
        throw .forbidden("cross-origin publish refused: origin not allowed (see corsOrigins)")
    }

    // MARK: subscribe

    private func subscribeIntent(_ request: HubRequest) async throws(Refusal) -> SubscribeIntent {
        let query = try decodeQuery(request)
        let (version, raw, selectors) = try subscribeSelectors(query, request: request)
        if version == .v1, query.contains("authorization") {
            throw .invalidRequest("Mercure 1.0 subscriptions (match=) take no token in the query string: use Authorization: Bearer or the cookie")
        }
        let asked = Self.askedLastEventID(request, query: query, version: version)
        let longPoll = try longPollWait(request, query: query)
        let padded = try Self.wantsPadding(query)
        let grant = try await authorizeSubscriber(request, query: query, version: version, selectors: selectors)
        var subscribeRequest = SubscribeRequest(
            selectors: selectors,
            privateSelectors: grant?.subscribe,
            lastEventID: asked.flatMap { $0.isEmpty ? nil : $0 },
            payload: grant?.payload,
            // The stream ends when the token does (with a final comment saying why).
            authorizationExpiry: grant?.expiresAt
        )
        subscribeRequest.padded = padded && longPoll == nil
        if version == .v1 {
            subscribeRequest.matcherPayloads = grant?.matcherPayloads(selectors) ?? Array(repeating: nil, count: selectors.count)
        }
        return SubscribeIntent(
            request: subscribeRequest,
            rawSelectors: raw,
            version: version,
            askedLastEventID: asked,
            longPoll: longPoll
        )
    }

    /// The selectors a subscribe asks for and the protocol version they say it speaks, within
    /// the hub's limits. Parameter names are case-sensitive; `match` and `match_exact` are
    /// exact (1.0), `match_urlpattern` a WHATWG URL Pattern (1.0), `topic` a 0.x selector;
    /// any other name starting with `match` is refused.
    private func subscribeSelectors(_ query: FormFields, request: HubRequest) throws(Refusal) -> (Version, [String], [TopicSelector]) {
        var topics: [String] = []
        var matchers: [(name: String, value: String)] = []
        for (name, value) in query.fields {
            switch name {
            case "topic": topics.append(value)
            case "match", "match_exact", "match_urlpattern": matchers.append((name, value))
            default:
                if name.hasPrefix("match") {
                    throw .badRequest("unknown matcher parameter \(name) (match, match_exact, match_urlpattern)")
                }
            }
        }
        if !topics.isEmpty, !matchers.isEmpty {
            throw .badRequest("topic= (Mercure 0.x) and match= (Mercure 1.0) cannot be mixed in one subscription")
        }
        if topics.isEmpty, matchers.isEmpty { throw .badRequest("missing topic") }
        do {
            if matchers.isEmpty {
                // The hub's limits (count, length, template complexity): one rule for every path.
                return (.v0, topics, try hub.selectors(topics))
            }
            return (.v1, matchers.map(\.value), try Self.matcherSelectors(matchers, hub: hub, hubURL: hubURL(request)))
        } catch {
            throw .badRequest(error.description)
        }
    }

    /// The verified grant (nil for an anonymous subscriber), or a refusal.
    private func authorizeSubscriber(
        _ request: HubRequest,
        query: FormFields,
        version: Version,
        selectors: [TopicSelector]
    ) async throws(Refusal) -> HubGrant? {
        guard authority.verifies(.subscriber), let credentials = credentials(of: request, query: query, version: version) else {
            if configuration.allowAnonymousSubscribers { return nil }
            throw .unauthorized("missing subscriber token")
        }
        let grant = try await authority.grant(credentials, for: .subscriber)
        if !configuration.allowAnonymousSubscribers {
            // A private hub: every selector asked for must be covered by the grant.
            for selector in selectors where !Self.covers(grant.subscribe, selector) {
                throw grant.forbidden("not allowed to subscribe to \(selector.rawValue)")
            }
        }
        return grant
    }

    /// Whether `allowed` grants `selector`: `*`, the same selector (same kind), or (for an
    /// exact topic) a selector matching it.
    static func covers(_ allowed: [TopicSelector], _ selector: TopicSelector) -> Bool {
        allowed.contains { grant in
            grant.isWildcard || grant == selector
                || (selector.kind == .exact && grant.matches(selector.rawValue))
        }
    }

    /// The header fields of a stream's answer (see `replayFields`).
    func streamHeaders(_ subscription: Subscription, _ intent: SubscribeIntent, origin: String?) -> HTTPFields {
        var headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "private, no-cache, no-store",
            .accelBuffering: "no",
        ]
        headers.append(contentsOf: Self.replayFields(intent, replayFound: subscription.replayFound, resumeID: subscription.lastEventID))
        headers.append(contentsOf: cors.headers(for: origin))
        return headers
    }

    /// The one rule for what a subscribe's answer says about replay, for streams and long-polls
    /// alike. 0.x: `Last-Event-ID` is where to resume from (`resumeID`: a stream's newest id in
    /// history, a long-poll's next id to poll from). 1.0: `Mercure-Last-Event-ID` answers a
    /// subscribe that asked for a replay (header or `last_event_id`): the id asked for when
    /// history holds it, `earliest` otherwise (updates may have been missed); 1.0 defines no
    /// response `Last-Event-ID`.
    static func replayFields(_ intent: SubscribeIntent, replayFound: Bool, resumeID: String?) -> HTTPFields {
        var fields = HTTPFields()
        switch intent.version {
        case .v0:
            if let resumeID { fields[.lastEventID] = resumeID }
        case .v1:
            if let asked = intent.askedLastEventID {
                fields[.mercureLastEventID] = !asked.isEmpty && replayFound ? asked : Update.earliestID
            }
        }
        return fields
    }

    // MARK: subscriptions API

    /// `GET {hub}/subscriptions[/...]` as JSON-LD. Private, as in Mercure: a subscriber token is
    /// required. The token says which protocol the request speaks: a 1.0 access token gets the
    /// 1.0 API (`subscriptions1`), a 0.x token the 0.x one (`/{topic}[/{subscriber}]`, only the
    /// resources whose IRI its grant matches, `visible(_:to:)`; any valid token may ask for a
    /// collection). Each lists the subscriptions of its own version.
    private func subscriptions(_ request: HubRequest) async throws(Refusal) -> HubAnswer {
        let query = try decodeQuery(request)
        guard authority.verifies(.subscriber) else {
            throw .forbidden("the subscriptions API needs a subscriber key on the hub")
        }
        guard let credentials = credentials(of: request, query: query, version: .v0) else {
            throw .unauthorized("missing subscriber token")
        }
        if credentials.source == .query, AccessTokenVerifier.isAccessToken(credentials.token) {
            throw .invalidRequest("Mercure 1.0 takes no token in the query string: use Authorization: Bearer or the cookie")
        }
        let grant = try await authority.grant(credentials, for: .subscriber)
        var components: [String] = []
        for part in request.path.dropFirst(subscriptionsPath.count).split(separator: "/", omittingEmptySubsequences: true) {
            do {
                components.append(try FormFields.percentDecode(part))
            } catch {
                throw .badRequest("bad percent-encoding in path")
            }
        }
        if grant.isAccessToken { return try await subscriptions1(request, components: components, grant: grant) }
        if components.count > 2 { throw Refusal(status: .notFound, reason: "not found") }

        let (lastEventID, active) = await hub.subscriptionsSnapshot()
        var resources = active.flatMap(\.resources).filter { $0.matchType == nil }
        if components.count >= 1 { resources = resources.filter { $0.topic == components[0] } }
        if components.count == 2 {
            guard let resource = resources.first(where: { $0.subscriber == components[1] }) else {
                throw Refusal(status: .notFound, reason: "no such subscription")
            }
            guard resource.isVisible(to: grant.subscribe) else { throw .forbidden("not allowed to see this subscription") }
            return Self.jsonLD(resource.json)
        }
        let visible = Self.visible(resources, to: grant).sorted { ($0.subscriber, $0.topic) < ($1.subscriber, $1.topic) }
        var id = subscriptionsPath
        if let topic = components.first { id += "/" + SubscriptionResource.percentEncode(topic) }
        var body = "{\"@context\":\"https://mercure.rocks/\",\"id\":" + SubscriptionResource.jsonString(id)
        body += ",\"type\":\"Subscriptions\",\"lastEventID\":"
        body += SubscriptionResource.jsonString(lastEventID ?? Update.earliestID)
        body += ",\"subscriptions\":[" + visible.map(\.json).joined(separator: ",") + "]}"
        return Self.jsonLD(body)
    }

    /// The Mercure 1.0 subscriptions API (the specification's "Active Subscriptions" /
    /// "Subscription API"): `{hub}/subscriptions` (every 1.0 subscription),
    /// `/{match_type}/{match}` (those of one matcher), `/{match_type}/{match}/{subscriber}` (one,
    /// 404 when it is not active). The request's path, as sent and without its query, is the
    /// topic the token's `subscribe` grant must cover (the same relative form as the
    /// subscription events' topics, so one matcher grants both); else 403 `insufficient_scope`.
    /// Then each listed (or the one asked for) subscription must be visible itself, by the rule
    /// of its subscription events (`visible(_:to:)`): a grant on the collection's URL alone
    /// lists nothing it does not cover, and a single subscription it does not cover is 403.
    /// Documents are JSON-LD (`application/ld+json`) with `last_event_id` at their root.
    private func subscriptions1(_ request: HubRequest, components: [String], grant: HubGrant) async throws(Refusal) -> HubAnswer {
        guard components.count == 0 || components.count == 2 || components.count == 3 else {
            throw Refusal(status: .notFound, reason: "not found (subscriptions[/{match_type}/{match}[/{subscriber}]])")
        }
        if let matchType = components.first, matchType != "exact", matchType != "urlpattern" {
            throw .badRequest("unknown match_type \(matchType) (exact or urlpattern)")
        }
        let topic = String(request.path)
        guard grant.subscribe.contains(where: { $0.matches(topic) }) else {
            throw grant.forbidden("not allowed to read \(topic)")
        }
        let (lastEventID, active) = await hub.subscriptionsSnapshot()
        let last = lastEventID ?? Update.earliestID
        var resources = active.flatMap(\.resources).filter { $0.matchType != nil }
        if components.count >= 2 {
            resources = resources.filter { $0.matchType == components[0] && $0.topic == components[1] }
        }
        if components.count == 3 {
            guard let resource = resources.first(where: { $0.subscriber == components[2] }) else {
                throw Refusal(status: .notFound, reason: "no such subscription")
            }
            // The path as sent may be spelled otherwise than the resource's IRI: the resource
            // itself must be visible too, as its subscription events are.
            guard resource.isVisible(to: grant.subscribe) else {
                throw grant.forbidden("not allowed to see this subscription")
            }
            return Self.jsonLD(resource.document(lastEventID: last))
        }
        let visible = Self.visible(resources, to: grant)
            .sorted { ($0.subscriber, $0.matchType ?? "", $0.topic) < ($1.subscriber, $1.matchType ?? "", $1.topic) }
        var body = "{\"@context\":\"https://mercure.rocks/\",\"id\":" + SubscriptionResource.jsonString(topic)
        body += ",\"type\":\"Subscriptions\",\"last_event_id\":" + SubscriptionResource.jsonString(last)
        body += ",\"subscriptions\":[" + visible.map(\.json).joined(separator: ",") + "]}"
        return Self.jsonLD(body)
    }

    /// The resources of a collection that `grant` may see, item by item
    /// (`SubscriptionResource.isVisible(to:)`: the rule that delivers subscription events), for
    /// the 0.x and the 1.0 collections alike. A grant that covers a collection's URL does not
    /// see the subscriptions it does not cover; the collection's last event ID is the hub's,
    /// whatever the filter leaves.
    private static func visible(_ resources: [SubscriptionResource], to grant: HubGrant) -> [SubscriptionResource] {
        resources.filter { $0.isVisible(to: grant.subscribe) }
    }

    private static func jsonLD(_ body: String) -> HubAnswer {
        HubAnswer(status: .ok, headers: [.contentType: "application/ld+json", .cacheControl: "no-store"], body: body)
    }

    // MARK: shared rules

    /// The one rule for a hub request's query string: decoded strictly (a bad percent-escape
    /// is a 400), never ignored.
    func decodeQuery(_ request: HubRequest) throws(Refusal) -> FormFields {
        guard let query = request.query else { return FormFields.empty }
        do {
            return try FormFields(decoding: query.utf8)
        } catch {
            throw .badRequest("bad query string: \(error.reason)")
        }
    }

    /// The request's token, in Mercure's order: `Authorization: Bearer`, else (0.x only) the
    /// `authorization` query parameter, else the cookie.
    /// 1.0 requests: the header, else the access-token cookie (`__Secure-mercure_access_token`,
    /// configurable); never the query string. Either way the credentials carry the audience a
    /// 1.0 access token must name (the configured resource identifier, else the request's URL).
    func credentials(of request: HubRequest, query: FormFields, version: Version) -> HubCredentials? {
        var found: HubCredentials?
        if let header = request.authorization, let token = bearerToken(header) {
            found = HubCredentials(token: token, source: .header)
        } else if version == .v0, let value = query.values("authorization").first, !value.isEmpty {
            found = HubCredentials(token: value, source: .query)
        } else if version == .v0, let cookie = request.cookie(configuration.cookieName), !cookie.isEmpty {
            found = HubCredentials(token: cookie, source: .cookie)
        } else if let cookie = request.cookie(configuration.accessTokenCookieName), !cookie.isEmpty {
            found = HubCredentials(token: cookie, source: .cookie)
        }
        found?.audience = hubURL(request)
        found?.accessTokensOnly = version == .v1
        return found
    }

    /// The hub's URL for this request (its resource identifier): the `aud` a 1.0 access token
    /// must name, and the base relative URL patterns and topics are resolved against.
    func hubURL(_ request: HubRequest) -> String? {
        configuration.resourceIdentifier(scheme: request.scheme ?? "http", authority: request.authority)
    }

    /// Whether a Content-Type is a form (`application/x-www-form-urlencoded`, any case, any
    /// parameters).
    static func isForm(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        var form = formType.makeIterator()
        for byte in contentType.utf8 {
            guard let expected = form.next() else { return true }
            if ((0x41...0x5A).contains(byte) ? byte | 0x20 : byte) != expected { return false }
        }
        return form.next() == nil
    }

    private static let formType = Array("application/x-www-form-urlencoded".utf8)

    /// 405 with `Allow` and a one-line reason (rather than a bare 404 that would send a client
    /// looking for a wrong URL).
    private func methodNotAllowed(_ method: HTTPRequest.Method, _ resource: Resource) -> Refusal {
        let allow = Self.allowHeader(Self.methods(resource))
        let what = resource == .hub ? "the hub" : "the subscriptions API"
        return Refusal(
            status: .methodNotAllowed,
            reason: "method \(method.rawValue) not allowed on \(what); allowed: \(allow)",
            headers: [.allow: allow]
        )
    }

    /// `answer` with the CORS headers its request's `Origin` earns (see `CORSPolicy.headers(for:)`;
    /// without an allowed origin the browser keeps the answer from the page).
    func withCORS(_ answer: HubAnswer, origin: String?) -> HubAnswer {
        var answer = answer
        answer.headers.append(contentsOf: cors.headers(for: origin))
        return answer
    }

    /// `OPTIONS`: answers a browser's preflight with 204 and what the page may do, or 403 with
    /// the reason when the origin is not allowed. Without `Origin` it just lists the methods.
    private func preflight(_ request: HubRequest, methods: [HTTPRequest.Method]) -> HubAnswer {
        guard let origin = request.origin, request.headers[.accessControlRequestMethod] != nil else {
            return HubAnswer(status: .noContent, headers: [.allow: Self.allowHeader(methods)], body: "")
        }
        guard cors.isEnabled else {
            return .plainText(.forbidden, "cross-origin requests are not enabled on this hub (see corsOrigins)")
        }
        let privateNetwork = request.headers[CORSPolicy.requestPrivateNetwork]?.lowercased() == "true"
        let listed = methods.map(\.rawValue).joined(separator: ", ")
        guard let headers = cors.preflightHeaders(for: origin, methods: listed, privateNetwork: privateNetwork) else {
            return .plainText(.forbidden, "origin not allowed (see corsOrigins)")
        }
        return HubAnswer(status: .noContent, headers: headers, body: "")
    }
}

/// The token of an `Authorization: Bearer <token>` value; nil for any other scheme.
func bearerToken(_ authorization: String) -> String? {
    let parts = authorization.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    var token = parts[1]
    while token.first == " " { token.removeFirst() }
    while token.last == " " { token.removeLast() }
    return String(token)
}
