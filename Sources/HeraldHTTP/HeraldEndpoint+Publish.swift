import HeraldHub
import Hummingbird
import NIOCore

extension HeraldEndpoint {
    /// `POST` handler: a form with `topic` (repeatable), `data`, `id`, `type`, `retry`, `private`
    /// (present with any value, empty too: private).
    /// Answers 200 with the update's id as text/plain, or a 4xx/503 with a one-line reason.
    public func publish(_ request: Request, remoteAddress: SocketAddress?) async -> Response {
        do {
            let id = try await publishOrRefuse(request, remoteAddress: remoteAddress)
            return .publishedID(id)
        } catch {
            return error.response
        }
    }

    private func publishOrRefuse(_ request: Request, remoteAddress: SocketAddress?) async throws(Refusal) -> String {
        if let refusal = refusalBeforeBody(request.head) { throw refusal }
        let query = try self.query(of: request)
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maxBodySize)
        } catch {
            throw .bodyTooLarge(configuration.maxBodySize)
        }
        if body.readableBytes == 0 { throw .badRequest("empty body: missing topic") }
        let update = try Self.decodeUpdate(body, maxTopicLength: hub.configuration.maxTopicLength)
        try await authorizePublisher(request, query: query, topics: update.topics, remoteAddress: remoteAddress)
        do {
            return try await hub.publish(update)
        } catch let error as HubError {
            switch error {
            case .invalidUpdate(let reason), .invalidSubscription(let reason): throw .badRequest(reason)
            case .shuttingDown, .brokerUnavailable: throw Refusal(status: .serviceUnavailable, reason: error.description)
            }
        } catch {
            logger.error("publish failed", metadata: ["error": "\(error)"])
            throw Refusal(status: .serviceUnavailable, reason: "publish failed")
        }
    }

    /// What a publish is refused for from its head alone, in this order: a query string that
    /// does not decode (400), not a form (415), a declared body over the limit (413), no
    /// credentials at all when a publisher key is set (401). Nil: the body may be read. The
    /// router and the event-loop handler both ask this, so a publish gets the same answer on
    /// every path, and the event-loop handler answers before reading the body (and answers
    /// `Expect: 100-continue` with these instead of `100 Continue`).
    func refusalBeforeBody(_ head: HTTPRequest) -> Refusal? {
        var query: FormFields?
        if let path = head.path, let mark = path.utf8.firstIndex(of: UInt8(ascii: "?")) {
            do {
                query = try Self.decodeQuery(path[path.index(after: mark)...])
            } catch {
                return error
            }
        }
        let contentType = head.headerFields[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return Refusal(status: .unsupportedMediaType, reason: "expected Content-Type: application/x-www-form-urlencoded")
        }
        if let declared = head.headerFields[.contentLength], let length = Int(declared), length > configuration.maxBodySize {
            return .bodyTooLarge(configuration.maxBodySize)
        }
        if publisherVerifier != nil {
            let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            if request.mercureToken(cookieName: configuration.cookieName, query: query) == nil {
                return .unauthorized("missing publisher token")
            }
        }
        return nil
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
        do {
            try update.validate(maxTopicLength: maxTopicLength)
        } catch {
            throw .badRequest(error.reason)
        }
        return update
    }

    private static func single(_ name: String, of form: FormFields) throws(Refusal) -> String? {
        do {
            return try form.single(name)
        } catch {
            throw .badRequest(error.reason)
        }
    }

    /// Returns when the request may publish to every one of `topics`; refuses otherwise.
    func authorizePublisher(
        _ request: Request,
        query: FormFields,
        topics: [String],
        remoteAddress: SocketAddress?
    ) async throws(Refusal) {
        guard let verifier = publisherVerifier else {
            try checkPublishOrigin(request, credentials: nil)
            let forwarded = request.headers.isForwardedByProxy
            if isLocalClient(remoteAddress, forwarded: forwarded) { return }
            throw .forbidden(
                forwarded
                    ? "no publisher key configured: a request forwarded by a proxy is not a loopback client"
                    : "no publisher key configured: publishing is accepted from loopback only"
            )
        }
        guard let (token, source) = request.mercureToken(cookieName: configuration.cookieName, query: query) else {
            throw .unauthorized("missing publisher token")
        }
        try checkPublishOrigin(request, credentials: source)
        if try await authorizeAccessTokenPublisher(request, token: token, topics: topics) { return }
        let claims = try await verifier.verify(token)
        guard let allowed = claims.mercure?.publish else {
            throw .forbidden("token has no mercure.publish claim")
        }
        if let topic = Self.firstTopic(of: topics, notCoveredBy: allowed) {
            throw .forbidden("not allowed to publish to \(topic)")
        }
    }

    /// The first of `topics` that no selector of a `mercure.publish` claim matches; nil when
    /// the claim covers them all.
    static func firstTopic(of topics: [String], notCoveredBy allowed: [String]) -> String? {
        let selectors = allowed.compactMap { try? TopicSelector($0) }
        return topics.first { topic in !selectors.contains { $0.matches(topic) } }
    }
}
