import HeraldHub
import Hummingbird
import NIOCore
import ServiceLifecycle

extension HeraldEndpoint {
    /// `GET` handler: `topic` (repeatable) selectors, replay from `Last-Event-ID` (header) or
    /// `lastEventID` (query), then a live `text/event-stream`.
    /// When `connection` is given, the stream ends as soon as that connection closes.
    public func subscribe(_ request: Request, remoteAddress: SocketAddress?, connection: (any Channel)? = nil) async
        -> Response
    {
        do {
            if let connection, hub.hasShard(on: connection.eventLoop) {
                // Fast path: the hub writes straight into the connection on its event loop.
                let sink = ChannelSink(channel: connection, hub: hub)
                let (subscription, topics) = try await openSubscription(request, sink: sink)
                sink.watch { subscription.cancel(reason: $0) }
                return channelStreamResponse(subscription, sink: sink, topics: topics, remoteAddress: remoteAddress)
            }
            let (subscription, topics) = try await openSubscription(request, sink: nil)
            let unwatch = connection.map { DisconnectWatcher.watch($0) { subscription.cancel() } }
            return streamResponse(subscription, topics: topics, remoteAddress: remoteAddress, onEnd: unwatch) { box in
                try await subscription.stream { buffers in try await box.write(buffers) }
            }
        } catch {
            return error.response
        }
    }

    func openSubscription(
        _ request: Request,
        sink: ChannelSink?
    ) async throws(Refusal) -> (Subscription, [String]) {
        let query = try self.query(of: request)
        let rawSelectors = query.values("topic")
        if rawSelectors.isEmpty { throw .badRequest("missing topic") }
        let selectors: [TopicSelector]
        do {
            // The hub's limits (count, length, template complexity): one rule for every path.
            selectors = try hub.selectors(rawSelectors)
        } catch {
            throw .badRequest(error.description)
        }
        let lastEventID = request.headers[.lastEventID] ?? query.values("lastEventID").first
        let claims = try await authorizeSubscriber(request, query: query, selectors: selectors)
        let privateSelectors = claims.map { hub.claimSelectors($0.mercure?.subscribe ?? []) }
        do {
            let subscribeRequest = SubscribeRequest(
                selectors: selectors,
                privateSelectors: privateSelectors,
                lastEventID: lastEventID,
                payload: claims?.mercure?.payload?.jsonText,
                // The stream ends when the token does (with a final comment saying why).
                authorizationExpiry: claims?.exp?.value
            )
            let subscription =
                if let sink {
                    try await hub.subscribe(subscribeRequest, sink: sink, on: sink.eventLoop)
                } else {
                    try await hub.subscribe(subscribeRequest)
                }
            return (subscription, rawSelectors)
        } catch {
            if case .invalidSubscription(let reason) = error { throw .badRequest(reason) }
            throw Refusal(status: .serviceUnavailable, reason: error.description)
        }
    }

    /// The headers of every stream response.
    func streamHeaders(_ subscription: Subscription) -> HTTPFields {
        var headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "private, no-cache, no-store",
            .accelBuffering: "no",
        ]
        if let last = subscription.lastEventID { headers[.lastEventID] = last }
        return headers
    }

    /// The fast path's response: the sink writes into the connection until the stream ends.
    private func channelStreamResponse(
        _ subscription: Subscription,
        sink: ChannelSink,
        topics rawSelectors: [String],
        remoteAddress: SocketAddress?
    ) -> Response {
        let retry = hub.configuration.retryField
        let end: @Sendable () -> Void = { subscription.cancel() }
        return streamResponse(subscription, topics: rawSelectors, remoteAddress: remoteAddress, onEnd: end) { box in
            // Hummingbird wrote the head before calling us; this write (when there is a retry
            // hint) goes the same way, so the sink's direct writes come after both.
            if let retry { try await box.write([retry]) }
            return try await withTaskCancellationHandler {
                try await sink.run().get()
            } onCancel: {
                subscription.cancel()
            }
        }
    }

    /// A stream response: logs, headers, graceful shutdown and the end of the stream around
    /// `stream`, which writes the events and says why it stopped.
    private func streamResponse(
        _ subscription: Subscription,
        topics rawSelectors: [String],
        remoteAddress: SocketAddress?,
        onEnd: (@Sendable () -> Void)?,
        stream: @escaping @Sendable (WriterBox) async throws -> StreamCloseReason
    ) -> Response {
        logStreamOpened(subscription, topics: rawSelectors, remoteAddress: remoteAddress)
        return Response(
            status: .ok,
            headers: streamHeaders(subscription),
            body: ResponseBody { writer in
                defer { onEnd?() }
                let box = WriterBox(writer)
                let reason: StreamCloseReason
                do {
                    reason = try await withGracefulShutdownHandler {
                        try await stream(box)
                    } onGracefulShutdown: {
                        subscription.cancel(reason: .shutdown)
                    }
                } catch {
                    self.logStreamClosed(subscription, reason: "client gone")
                    throw error
                }
                self.logStreamClosed(subscription, reason: "\(reason)")
                if reason == .tooSlow { throw StreamDroppedError() }
                try await writer.finish(nil)
            }
        )
    }

    func logStreamOpened(_ subscription: Subscription, topics: [String], remoteAddress: SocketAddress?) {
        logger.debug(
            "stream opened",
            metadata: [
                "subscription": "\(subscription.id)", "topics": "\(topics)",
                "remote": "\(remoteAddress.map { "\($0)" } ?? "-")",
            ]
        )
    }

    func logStreamClosed(_ subscription: Subscription, reason: String) {
        logger.debug("stream closed", metadata: ["subscription": "\(subscription.id)", "reason": "\(reason)"])
    }

    /// The verified claims (nil for an anonymous subscriber), or a refusal.
    func authorizeSubscriber(
        _ request: Request,
        query: FormFields,
        selectors: [TopicSelector]
    ) async throws(Refusal) -> MercureClaims? {
        let credentials = request.mercureToken(cookieName: configuration.cookieName, query: query)
        guard let verifier = subscriberVerifier, let (token, _) = credentials else {
            if configuration.allowAnonymousSubscribers { return nil }
            throw .unauthorized("missing subscriber token")
        }
        let claims = try await verifier.verify(token)
        if !configuration.allowAnonymousSubscribers {
            // A private hub: every selector asked for must be covered by the token's claim.
            let allowed = (claims.mercure?.subscribe ?? []).compactMap { try? TopicSelector($0) }
            for selector in selectors where !Self.covers(allowed, selector) {
                throw .forbidden("not allowed to subscribe to \(selector.rawValue)")
            }
        }
        return claims
    }

    /// Whether `allowed` grants `selector`: `*`, the same selector, or (for an exact topic) a
    /// selector matching it.
    static func covers(_ allowed: [TopicSelector], _ selector: TopicSelector) -> Bool {
        allowed.contains { grant in
            grant.isWildcard || grant == selector
                || (selector.kind == .exact && grant.matches(selector.rawValue))
        }
    }
}

/// Thrown from a response body to make the server close a stream whose client fell behind.
struct StreamDroppedError: Error {}

/// Lets the subscription's writer task use the response writer while the handler waits.
final class WriterBox: @unchecked Sendable {
    private var writer: any ResponseBodyWriter

    init(_ writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    func write(_ buffers: [ByteBuffer]) async throws {
        if buffers.count == 1 {
            try await writer.write(buffers[0])
        } else {
            try await writer.write(contentsOf: buffers)
        }
    }
}
