#if Vapor
import HTTPTypes
import HeraldHTTP
import HeraldHub
import NIOHTTPTypesHTTP1
import Vapor

/// Vapor's adapter of the protocol core: a Vapor `Request` becomes the core's `HubRequest`, the
/// core's outcome becomes a `Response`. No protocol rule is written here: the body is read when
/// `HeraldEndpoint.outcome` asks for it, and a stream's headers, refusals and final notices
/// come from the core and the hub.
struct HeraldVaporResponder: Sendable {
    let endpoint: HeraldEndpoint
    /// The mount point's path prefix, normalized to "" or "/segment[/segment...]".
    let prefix: String

    init(endpoint: HeraldEndpoint, prefix: String) {
        self.endpoint = endpoint
        let segments = prefix.split(separator: "/", omittingEmptySubsequences: true)
        self.prefix = segments.isEmpty ? "" : "/" + segments.joined(separator: "/")
    }

    func respond(to request: Request) async -> Response {
        let hubRequest = self.hubRequest(request)
        let outcome = await endpoint.outcome(of: hubRequest) { limit in
            try await request.body.collect(upTo: limit)
        }
        switch outcome {
        case .answer(let answer):
            return Response(answer)
        case .subscribe(let intent):
            return await subscribe(intent, request: request, origin: hubRequest.origin)
        }
    }

    /// The core's view of a Vapor request: method, target (the mount prefix removed, still
    /// percent-encoded), header fields with `Host` as the authority, and whether the peer is a
    /// loopback address. The body is read later, only if the core asks for it.
    func hubRequest(_ request: Request) -> HubRequest {
        var path = request.url.path
        if !prefix.isEmpty, path.hasPrefix(prefix) { path.removeFirst(prefix.count) }
        if let query = request.url.query { path += "?" + query }
        let (fields, authority) = request.headers.heraldFields
        let method = (try? HTTPRequest.Method(request.method)) ?? HTTPRequest.Method("UNKNOWN")!
        return HubRequest(
            method: method,
            target: path,
            headers: fields,
            authority: authority,
            peerIsLoopback: request.remoteAddress?.isLoopback == true
        )
    }

    /// Opens an authorized subscription and answers with its stream: written by the hub's
    /// shard through `BodyStreamSink` when the request's event loop is one of the hub's, else
    /// (a hub on other loops) by a task reading the subscription's queue.
    private func subscribe(_ intent: HubProtocol.SubscribeIntent, request: Request, origin: String?) async -> Response {
        let hub = endpoint.hub
        let eventLoop = request.eventLoop
        do {
            if hub.hasShard(on: eventLoop) {
                let sink = BodyStreamSink(endpoint: endpoint, eventLoop: eventLoop)
                let subscription = try await hub.subscribe(intent.request, sink: sink, on: eventLoop)
                sink.follow(subscription)
                endpoint.logStreamOpened(subscription, topics: intent.rawSelectors, remoteAddress: request.remoteAddress)
                let headers = endpoint.streamHeaders(subscription, intent, origin: origin)
                return Response(
                    status: .ok,
                    headers: HTTPHeaders(headers),
                    body: .init(stream: { writer in sink.attach(writer) })
                )
            }
            let subscription = try await hub.subscribe(intent.request)
            endpoint.logStreamOpened(subscription, topics: intent.rawSelectors, remoteAddress: request.remoteAddress)
            let headers = endpoint.streamHeaders(subscription, intent, origin: origin)
            let retry = hub.configuration.retryField
            let endpoint = self.endpoint
            return Response(
                status: .ok,
                headers: HTTPHeaders(headers),
                body: .init(asyncStream: { writer in
                    do {
                        // Sends the head now (Vapor does not flush it): an empty write is no chunk.
                        try await writer.write(.buffer(ByteBuffer()))
                        if let retry { try await writer.write(.buffer(retry)) }
                        let reason = try await subscription.stream { buffers in
                            for buffer in buffers { try await writer.write(.buffer(buffer)) }
                        }
                        endpoint.logStreamClosed(subscription, reason: "\(reason)")
                        if reason == .tooSlow {
                            try await writer.write(.error(StreamDropped()))
                        } else {
                            try await writer.write(.end)
                        }
                    } catch {
                        // A failed write: the client is gone.
                        subscription.cancel()
                        endpoint.logStreamClosed(subscription, reason: "client gone")
                        try? await writer.write(.end)
                    }
                })
            )
        } catch {
            return Response(endpoint.refusalAnswer(error, origin: origin))
        }
    }
}

/// Ends a stream whose client fell behind: Vapor closes the connection on a body error.
struct StreamDropped: Error {}

extension Response {
    /// A finished answer of the core, as it is.
    convenience init(_ answer: HubAnswer) {
        self.init(
            status: HTTPResponseStatus(statusCode: answer.status.code, reasonPhrase: answer.status.reasonPhrase),
            headers: HTTPHeaders(answer.headers),
            body: answer.body.isEmpty ? .empty : .init(string: answer.body)
        )
    }
}

extension HTTPHeaders {
    /// Vapor's header fields as the core and the chat read them: HTTPTypes fields, and the
    /// authority (`Host`; Vapor's HTTP/2 server turns `:authority` into it) apart. The one
    /// conversion for every Vapor route of the package: NIOHTTPTypesHTTP1's
    /// `HTTPFields(_:splitCookie:)` leaves the first `Host` out (an `HTTPRequest` carries it as
    /// `authority`), so the authority must be taken from here, not from the converted fields.
    /// Without it every `Origin` looked cross-origin: the chat refused its own page's posts.
    package var heraldFields: (fields: HTTPFields, authority: String?) {
        (HTTPFields(self, splitCookie: false), self.first(name: .host))
    }
}

extension Request.Body {
    /// The whole body, refused (thrown) past `limit` bytes, declared or seen (the hub's publishes
    /// and the Vapor chat's requests).
    package func collect(upTo limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await chunk in self {
            guard collected.readableBytes + chunk.readableBytes <= limit else { throw BodyTooLarge() }
            var chunk = chunk
            collected.writeBuffer(&chunk)
        }
        return collected
    }
}

struct BodyTooLarge: Error {}

#endif
