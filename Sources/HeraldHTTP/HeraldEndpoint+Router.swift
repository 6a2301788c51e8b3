import HeraldHub
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The Hummingbird router's adapter (HTTP/1, HTTP/2, TLS): a `Request` becomes the core's
/// `HubRequest` (its body read within `maxBodySize` when it is a publish the core would read),
/// and the core's decision becomes a `Response`.
extension HeraldEndpoint {
    /// Answers any request on the hub's paths. When `connection` is given, a stream ends as
    /// soon as that connection closes (and is written straight into it when the hub has a
    /// shard on its event loop).
    func respond(to request: Request, remoteAddress: SocketAddress?, connection: (any Channel)?) async -> Response {
        let hubRequest = HubRequest(head: request.head, peerIsLoopback: remoteAddress?.isLoopback == true)
        let outcome = await outcome(of: hubRequest) { limit in
            var request = request
            return try await request.collectBody(upTo: limit)
        }
        switch outcome {
        case .answer(let answer):
            return answer.response
        case .subscribe(let intent):
            return await subscribe(intent, origin: hubRequest.origin, remoteAddress: remoteAddress, connection: connection)
        }
    }

    /// `POST` on the hub: publishes a form with `topic` (repeatable), `data`, `id`, `type`,
    /// `retry`, `private`. Answers 200 with the update's id as text/plain (exactly), or a
    /// 4xx/503 with a one-line reason.
    public func publish(_ request: Request, remoteAddress: SocketAddress?) async -> Response {
        await respond(to: request, remoteAddress: remoteAddress, connection: nil)
    }

    /// `GET` on the hub: subscribes with `topic=` (Mercure 0.x) or `match=` /
    /// `match_exact=` / `match_urlpattern=` (1.0) selectors, replays from `Last-Event-ID`
    /// (header) or `last_event_id` / `lastEventID` (query), then streams `text/event-stream`.
    /// When `connection` is given, the stream ends as soon as that connection closes.
    public func subscribe(_ request: Request, remoteAddress: SocketAddress?, connection: (any Channel)? = nil) async
        -> Response
    {
        await respond(to: request, remoteAddress: remoteAddress, connection: connection)
    }

    /// The Mercure subscriptions API: `GET {hub}/subscriptions[/{topic}[/{subscriber}]]` as
    /// JSON-LD, for a subscriber token whose claim matches the resources' IRIs.
    public func subscriptions(_ request: Request) async -> Response {
        await respond(to: request, remoteAddress: nil, connection: nil)
    }

    /// Opens an authorized subscription and answers with its stream.
    private func subscribe(
        _ intent: HubProtocol.SubscribeIntent,
        origin: String?,
        remoteAddress: SocketAddress?,
        connection: (any Channel)?
    ) async -> Response {
        do {
            if let connection, hub.hasShard(on: connection.eventLoop) {
                // Fast path: the hub writes straight into the connection on its event loop.
                let sink = ChannelSink(channel: connection, hub: hub)
                let subscription = try await hub.subscribe(intent.request, sink: sink, on: sink.eventLoop)
                sink.watch { subscription.cancel(reason: $0) }
                return channelStreamResponse(subscription, intent, origin: origin, sink: sink, remoteAddress: remoteAddress)
            }
            let subscription = try await hub.subscribe(intent.request)
            let unwatch = connection.map { DisconnectWatcher.watch($0) { subscription.cancel() } }
            return streamResponse(subscription, intent, origin: origin, remoteAddress: remoteAddress, onEnd: unwatch) { box in
                try await subscription.stream { buffers in try await box.write(buffers) }
            }
        } catch {
            return core.withCORS(core.refusal(error).answer, origin: origin).response
        }
    }

    /// The fast path's response: the sink writes into the connection until the stream ends.
    private func channelStreamResponse(
        _ subscription: Subscription,
        _ intent: HubProtocol.SubscribeIntent,
        origin: String?,
        sink: ChannelSink,
        remoteAddress: SocketAddress?
    ) -> Response {
        let retry = hub.configuration.retryField
        let end: @Sendable () -> Void = { subscription.cancel() }
        return streamResponse(subscription, intent, origin: origin, remoteAddress: remoteAddress, onEnd: end) { box in
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
        _ intent: HubProtocol.SubscribeIntent,
        origin: String?,
        remoteAddress: SocketAddress?,
        onEnd: (@Sendable () -> Void)?,
        stream: @escaping @Sendable (WriterBox) async throws -> StreamCloseReason
    ) -> Response {
        logStreamOpened(subscription, topics: intent.rawSelectors, remoteAddress: remoteAddress)
        return Response(
            status: .ok,
            headers: core.streamHeaders(subscription, intent, origin: origin),
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

    package func logStreamOpened(_ subscription: Subscription, topics: [String], remoteAddress: SocketAddress?) {
        logger.debug(
            "stream opened",
            metadata: [
                "subscription": "\(subscription.id)", "topics": "\(topics)",
                "remote": "\(remoteAddress.map { "\($0)" } ?? "-")",
            ]
        )
    }

    package func logStreamClosed(_ subscription: Subscription, reason: String) {
        logger.debug("stream closed", metadata: ["subscription": "\(subscription.id)", "reason": "\(reason)"])
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
