import HeraldHub
import Hummingbird

extension HeraldEndpoint {
    /// The Mercure subscriptions API: `GET {hub}/subscriptions[/{topic}[/{subscriber}]]` as
    /// JSON-LD. Private, as in Mercure: a subscriber token is required, and only resources whose
    /// IRI its `mercure.subscribe` claim matches are shown.
    public func subscriptions(_ request: Request) async -> Response {
        do {
            return try await subscriptionsOrRefuse(request)
        } catch {
            return error.response
        }
    }

    private func subscriptionsOrRefuse(_ request: Request) async throws(Refusal) -> Response {
        let query = try self.query(of: request)
        guard let verifier = subscriberVerifier else {
            throw .forbidden("the subscriptions API needs a subscriber key on the hub")
        }
        guard let (token, _) = request.mercureToken(cookieName: configuration.cookieName, query: query) else {
            throw .unauthorized("missing subscriber token")
        }
        let claims = try await verifier.verify(token)
        let allowed = (claims.mercure?.subscribe ?? []).compactMap { try? TopicSelector($0) }

        let base = configuration.path + "/subscriptions"
        let rawPath = request.uri.path
        guard rawPath.hasPrefix(base) else { throw Refusal(status: .notFound, reason: "not found") }
        var components: [String] = []
        for part in rawPath.dropFirst(base.count).split(separator: "/", omittingEmptySubsequences: true) {
            do {
                components.append(try FormFields.percentDecode(part))
            } catch {
                throw .badRequest("bad percent-encoding in path")
            }
        }
        if components.count > 2 { throw Refusal(status: .notFound, reason: "not found") }

        let (lastEventID, active) = await hub.subscriptionsSnapshot()
        var resources = active.flatMap(\.resources)
        if components.count >= 1 { resources = resources.filter { $0.topic == components[0] } }
        if components.count == 2 { resources = resources.filter { $0.subscriber == components[1] } }
        let visible = resources.filter { resource in allowed.contains { $0.matches(resource.iri) } }
            .sorted { ($0.subscriber, $0.topic) < ($1.subscriber, $1.topic) }

        if components.count == 2 {
            guard let resource = resources.first else {
                throw Refusal(status: .notFound, reason: "no such subscription")
            }
            guard visible.contains(resource) else { throw .forbidden("not allowed to see this subscription") }
            return Self.jsonLD(resource.json)
        }
        var id = base
        if let topic = components.first { id += "/" + SubscriptionResource.percentEncode(topic) }
        var body = "{\"@context\":\"https://mercure.rocks/\",\"id\":" + SubscriptionResource.jsonString(id)
        body += ",\"type\":\"Subscriptions\",\"lastEventID\":"
        body += SubscriptionResource.jsonString(lastEventID ?? Update.earliestID)
        body += ",\"subscriptions\":[" + visible.map(\.json).joined(separator: ",") + "]}"
        return Self.jsonLD(body)
    }

    static func jsonLD(_ body: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/ld+json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}
