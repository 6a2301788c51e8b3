/// One event of a `text/event-stream`.
///
/// This is the unit a server publishes and a client receives; it maps one-to-one onto the
/// `id`, `event`, `retry` and `data` fields of the WHATWG wire format.
public struct ServerSentEvent: Sendable, Hashable {
    /// The event payload. May span several lines (separated by `\n`, `\r\n` or `\r`);
    /// each line travels as its own `data:` field.
    public var data: String

    /// The event type; `nil` (or empty) means the default type, `"message"`.
    public var event: String?

    /// The event ID the client reports back in `Last-Event-ID` after reconnecting.
    /// An empty string resets the client's last event ID; `nil` leaves it unchanged.
    public var id: String?

    /// The reconnection time in milliseconds the client should use from now on; `nil` sends none.
    public var retry: Int?

    /// Creates an event; every field is optional so heartbeat-like or retry-only events stay terse.
    public init(data: String = "", event: String? = nil, id: String? = nil, retry: Int? = nil) {
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
    }
}
