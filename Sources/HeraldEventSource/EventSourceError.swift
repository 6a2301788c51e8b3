import ServerSentEvents

/// Why an ``EventSource`` stopped for good (it does not reconnect after these).
public enum EventSourceError: Error, Hashable, CustomStringConvertible {
    /// `204 No Content`: the standard's way for a server to tell a client to stop reconnecting.
    case noContent
    /// Any other final status than `200` (after redirects). `reason` is the start of the
    /// answer's body (a server's short text reason), at most 1 KiB. A `401` ends up here when a
    /// freshly provided token was refused too.
    case status(code: Int, reason: String)
    /// A `200` whose `Content-Type` is not `text/event-stream` (`nil`: none was sent).
    case contentType(String?)
    /// The stream broke a parser limit (a line or an event beyond `maxBufferedBytes`).
    case streamFormat(ServerSentEventParser.Error)
    /// `Configuration.maxAttempts` attempts in a row delivered no event; `reason` is the last failure.
    case gaveUp(attempts: Int, reason: String)

    public var description: String {
        switch self {
        case .noContent: "the server answered 204 No Content: stop reconnecting"
        case .status(let code, let reason): reason.isEmpty ? "the server answered \(code)" : "the server answered \(code): \(reason)"
        case .contentType(let type?): "the server answered 200 with Content-Type \(type), not text/event-stream"
        case .contentType(nil): "the server answered 200 without a Content-Type, not text/event-stream"
        case .streamFormat(let error): "\(error)"
        case .gaveUp(let attempts, let reason): "gave up after \(attempts) attempts in a row; last: \(reason)"
        }
    }
}
