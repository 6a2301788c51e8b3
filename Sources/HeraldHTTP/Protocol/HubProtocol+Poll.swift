import HTTPTypes
import HeraldHub
import NIOCore

/// Clients that cannot stream: the last event id from the query string under every name the
/// polyfills use, padding for old browsers, and long-polling. A long-poll is a subscribe like
/// any other (the same selectors, limits, authorization, replay and gap signal, decided by
/// `subscribeIntent`) whose answer ends at the first batch of events or after its wait.
extension HubProtocol {
    /// The last event id a subscribe asks to resume after, by precedence: the `Last-Event-ID`
    /// header (EventSource), then the query's `last_event_id` (Mercure 1.0, nchan),
    /// `lastEventID` (Mercure 0.x only) and `lastEventId` (the EventSource polyfills' default).
    /// An empty value counts as none and lets the next name speak; nil when none is given
    /// (the empty string when only empty ones are: "no id", which is not a replay).
    static func askedLastEventID(_ request: HubRequest, query: FormFields, version: Version) -> String? {
        var asked: String? = request.headers[.lastEventID]
        var names = ["last_event_id"]
        if version == .v0 { names.append("lastEventID") }
        names.append("lastEventId")
        for name in names where asked?.isEmpty ?? true {
            if let value = query.values(name).first { asked = value }
        }
        return asked
    }

    /// Whether a subscribe is a long-poll, and how long it may wait: the query's `poll=1`, or
    /// `X-Requested-With: XMLHttpRequest` (the polling EventSource polyfills' header: they read
    /// the answer once it ends, then reconnect with `Last-Event-ID`, so an ended answer suits
    /// them and any other client just reconnects). `wait=N` (whole seconds) shortens the wait,
    /// never past `longPollTimeout`; `wait=0` answers with what history holds now.
    func longPollWait(_ request: HubRequest, query: FormFields) throws(Refusal) -> TimeAmount? {
        let flag: String?
        do {
            flag = try query.single("poll")
        } catch {
            throw .badRequest(error.reason)
        }
        let asked: Bool
        switch flag {
        case nil, "0", "false": asked = false
        case "1", "true": asked = true
        default: throw .badRequest("poll must be 1 (long-polling) or 0")
        }
        let polyfill = request.headers[values: Self.requestedWith].contains { $0.lowercased() == "xmlhttprequest" }
        guard asked || polyfill else { return nil }
        let longest = TimeAmount(configuration.longPollTimeout)
        let wait: String?
        do {
            wait = try query.single("wait")
        } catch {
            throw .badRequest(error.reason)
        }
        guard let wait else { return longest }
        guard !wait.isEmpty, wait.utf8.count <= 6, wait.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let seconds = Int64(wait)
        else {
            throw .badRequest("wait must be a whole number of seconds")
        }
        return min(.seconds(seconds), longest)
    }

    /// Whether a stream asks for the 2 KiB padding comment first: `padding=1`.
    static func wantsPadding(_ query: FormFields) throws(Refusal) -> Bool {
        let value: String?
        do {
            value = try query.single("padding")
        } catch {
            throw .badRequest(error.reason)
        }
        switch value {
        case nil, "0", "false": return false
        case "1", "true": return true
        default: throw .badRequest("padding must be 1 or 0")
        }
    }

    /// A long-poll's answer: `200`, `text/event-stream`, the events a stream would have sent
    /// first (the gap event included; no heartbeat, padding or retry hint) and nothing after
    /// them, or an empty body once `wait` passed with none. The replay fields follow the
    /// stream's rule (`replayFields`): 0.x, `Last-Event-ID` is the id to poll from next (the
    /// body's last id, or where history stood when nothing came); 1.0, `Mercure-Last-Event-ID`
    /// when a replay was asked (a 1.0 poller resumes from the last id of the body).
    func longPoll(_ intent: SubscribeIntent, wait: TimeAmount, origin: String?) async -> HubAnswer {
        let batch: PollBatch
        do {
            batch = try await hub.poll(intent.request, timeout: wait)
        } catch {
            return withCORS(refusal(error).answer, origin: origin)
        }
        var body = ByteBuffer()
        body.reserveCapacity(batch.events.reduce(0) { $0 + $1.bytes.readableBytes })
        for event in batch.events { body.writeImmutableBuffer(event.bytes) }
        var headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "private, no-cache, no-store",
        ]
        headers.append(contentsOf: Self.replayFields(intent, replayFound: batch.replayFound, resumeID: batch.nextEventID))
        headers.append(contentsOf: cors.headers(for: origin))
        return HubAnswer(status: .ok, headers: headers, body: String(buffer: body))
    }

    /// `X-Requested-With`.
    static let requestedWith = HTTPField.Name("X-Requested-With")!
}
