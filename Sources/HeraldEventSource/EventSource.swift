import AsyncHTTPClient
import NIOHTTP1
import ServerSentEvents

/// A client for any Server-Sent Events endpoint, with the reconnection model of the browser's
/// `EventSource` (WHATWG HTML, "Server-sent events"), as an `AsyncSequence`.
///
/// ```swift
/// for try await event in EventSource(url: "https://example.com/stream") {
///     if case .message(let message) = event { print(message.data) }
/// }
/// ```
///
/// What it does, as the standard says:
/// - Sends `Accept: text/event-stream` and, once the stream has given an id, `Last-Event-ID`.
/// - Parses the stream with `ServerSentEventParser` (ServerSentEvents) (UTF-8, BOM, CR/LF/CRLF, comments, `retry`).
/// - The last event id is carried across connections: an event without an `id` field after a
///   reconnect still has the id in force, and an empty `id:` field resets it, so the next
///   reconnect sends no `Last-Event-ID` at all.
/// - When the connection ends or fails, it reconnects after the reconnection time (the server's
///   latest `retry:`, else ``Configuration/reconnectionTime``). Consecutive attempts that deliver
///   no event grow the wait exponentially up to a cap, with jitter (``Backoff``).
/// - It stops, with a typed ``EventSourceError``, on `204 No Content`, on any other status than
///   `200` (redirects are followed first), and on a `200` that is not `text/event-stream`: those
///   will not fix themselves by reconnecting.
///
/// Cancelling the task that iterates (or leaving the `for` loop) closes the connection at once.
/// The transport is AsyncHTTPClient: TLS, HTTP/2, proxies, redirects and connection pooling come
/// from the `HTTPClient` given. `.shared` (the default) follows redirects and reads with a 90 s
/// timeout, so a stream silent for longer (a dead peer that never sent a FIN; a Herald hub sends
/// a heartbeat every 15 s) is dropped and reconnected; give a client with another `timeout.read`
/// (or none) for endpoints that stay silent longer, and one with `proxy` set to go through a proxy.
public struct EventSource: AsyncSequence, Sendable {
    /// What the stream produces, in order.
    public enum Event: Sendable, Hashable {
        /// A connection was established: `200` with `text/event-stream` (the browser's `open`).
        case open
        /// A dispatched event. Its `id` is the last event id in force (it persists across events
        /// and connections, as `MessageEvent.lastEventId` does), `nil` when there is none; its
        /// `event` is `nil` for the default type `message`; its `retry` is always `nil`.
        case message(ServerSentEvent)
        /// A Herald hub could not replay from the last event id it was given (evicted from its
        /// history, or never seen): updates may have been missed, so reload your state. The hub
        /// then goes on live. (The hub's in-band `event: herald-gap`.)
        case gap(HeraldGap)
        /// The connection ended or could not be made; the source waits `after`, then reconnects
        /// (the browser's `error` event while reconnecting). `reason` says why, for logs.
        case reconnecting(after: Duration, reason: String)
    }

    /// The endpoint, as an absolute `http`/`https` URL (query included).
    public let url: String
    /// How requests are made and how reconnection behaves.
    public var configuration: Configuration
    /// The transport.
    public let httpClient: HTTPClient
    /// Gives the bearer token for each connection; `nil` sends no `Authorization`.
    public let tokenProvider: AccessTokenProvider?

    /// Creates a source for `url`; nothing is connected until it is iterated. Each iteration is
    /// its own connection with its own last event id (starting at `configuration.lastEventID`).
    public init(
        url: String,
        configuration: Configuration = Configuration(),
        httpClient: HTTPClient = .shared,
        tokenProvider: AccessTokenProvider? = nil
    ) {
        self.url = url
        self.configuration = configuration
        self.httpClient = httpClient
        self.tokenProvider = tokenProvider
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(source: self)
    }

    /// The `event:` type with which a Herald hub starts a stream it could not replay
    /// (`Hub.gapEventType` on the server side). Such an event is surfaced as ``Event/gap(_:)``.
    public static let heraldGapEventType = "herald-gap"
}

extension EventSource {
    /// How an ``EventSource`` connects and reconnects.
    public struct Configuration: Sendable {
        /// The last event id to start from, as if the stream had sent it (sent as
        /// `Last-Event-ID` on the first request); empty for none. A Mercure hub also takes
        /// `earliest` here: all the history it keeps.
        public var lastEventID: String
        /// Extra request headers (the source sets `Accept`, `Cache-Control`, `Last-Event-ID`
        /// and, with a token provider, `Authorization` itself).
        public var headers: HTTPHeaders
        /// The reconnection time until the server sends `retry:` (browsers use about 3 s).
        public var reconnectionTime: Duration
        /// How waits grow while attempts keep failing.
        public var backoff: Backoff
        /// Consecutive attempts that deliver no event before giving up with
        /// ``EventSourceError/gaveUp(attempts:reason:)``; `nil` (the default) retries for ever, as browsers do.
        public var maxAttempts: Int?
        /// The most time one attempt may take until the response head arrives. While a server
        /// refuses connections, the `HTTPClient`'s pool retries connecting on its own (with its
        /// own back-off) within this time, so an attempt fails after it, not at once.
        public var responseTimeout: Duration
        /// The longest line, and the most data in one event, the parser accepts; beyond it the
        /// stream fails with ``EventSourceError/streamFormat(_:)``.
        public var maxBufferedBytes: Int
        /// A token whose `exp` is closer than this is replaced before it is sent.
        public var tokenRefreshLeeway: Duration

        /// The defaults: reconnect after 3 s (or what the server says), back-off to 60 s.
        public init(
            lastEventID: String = "",
            headers: HTTPHeaders = [:],
            reconnectionTime: Duration = .seconds(3),
            backoff: Backoff = Backoff(),
            maxAttempts: Int? = nil,
            responseTimeout: Duration = .seconds(30),
            maxBufferedBytes: Int = 16 * 1024 * 1024,
            tokenRefreshLeeway: Duration = .seconds(30)
        ) {
            self.lastEventID = lastEventID
            self.headers = headers
            self.reconnectionTime = reconnectionTime
            self.backoff = backoff
            self.maxAttempts = maxAttempts
            self.responseTimeout = responseTimeout
            self.maxBufferedBytes = maxBufferedBytes
            self.tokenRefreshLeeway = tokenRefreshLeeway
        }
    }
}

/// Herald's gap signal: the hub no longer holds (or never held) what came after an id.
public struct HeraldGap: Sendable, Hashable {
    /// The id the client asked to resume from, as the hub reports it; `nil` if it did not.
    public var lastEventID: String?
    /// The event's data as sent (a small JSON object).
    public var data: String

    /// Reads the hub's JSON (`{"lastEventID": "..."}`); other data is kept as is.
    public init(data: String) {
        self.data = data
        self.lastEventID = JSONFields.string("lastEventID", in: data)
    }
}
