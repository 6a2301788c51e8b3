#if Vapor
import NIOConcurrencyHelpers
import NIOCore
import ServerSentEvents
import Vapor

extension Response {
    /// A `text/event-stream` response that sends each event of `events` as it comes, for a route
    /// that streams its own events without a hub:
    ///
    /// ```swift
    /// app.get("clock") { _ in
    ///     Response.serverSentEvents(ticks.map { ServerSentEvent(data: "\($0)") })
    /// }
    /// ```
    ///
    /// The response carries `Content-Type: text/event-stream`, `Cache-Control: no-cache` (and
    /// `no-store`: events are not to be kept by caches) and `X-Accel-Buffering: no` (so nginx
    /// passes events on at once), plus `headers`. With `heartbeat`, a comment line (`:`) is
    /// sent whenever the stream was quiet that long, so proxies keep it open and a client that
    /// went away is noticed (a write to its closed connection fails) even when no event comes.
    ///
    /// The stream ends when `events` finishes (the response ends normally) or throws (the
    /// connection is closed, so the client's EventSource reconnects), and when the client goes
    /// away: iterating `events` is then cancelled (its producer sees task cancellation). An
    /// event that cannot be encoded (a line break in its `id` or `event`) ends it the same way
    /// as a throw.
    public static func serverSentEvents<Events: AsyncSequence & Sendable>(
        _ events: Events,
        heartbeat: TimeAmount? = .seconds(15),
        status: HTTPResponseStatus = .ok,
        headers: HTTPHeaders = [:]
    ) -> Response where Events.Element == ServerSentEvent {
        var fields = headers
        fields.replaceOrAdd(name: .contentType, value: "text/event-stream")
        fields.replaceOrAdd(name: .cacheControl, value: "no-cache, no-store")
        fields.replaceOrAdd(name: "X-Accel-Buffering" as String, value: "no")
        let body = Body(asyncStream: { writer in
            let quiet = NIOLockedValueBox(true)
            do {
                // Sends the head now (Vapor does not flush it): an empty write is no chunk.
                try await writer.write(.buffer(ByteBuffer()))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await event in events {
                            try await writer.write(.buffer(try event.encoded()))
                            quiet.withLockedValue { $0 = false }
                        }
                    }
                    if let heartbeat {
                        group.addTask {
                            let interval = Duration.nanoseconds(heartbeat.nanoseconds)
                            while true {
                                try await Task.sleep(for: interval)
                                // Sent only after a whole quiet interval.
                                if quiet.withLockedValue({ value in defer { value = true }; return value }) {
                                    try await writer.write(.buffer(ByteBuffer(string: ":\n")))
                                }
                            }
                        }
                    }
                    // The events ended (or one write failed): stop the heartbeats too.
                    _ = try await group.next()
                    group.cancelAll()
                }
                try await writer.write(.end)
            } catch {
                try? await writer.write(.error(error))
            }
        })
        return Response(status: status, headers: fields, body: body)
    }
}
#endif
