/// Why an event can't be written to a `text/event-stream` without changing its meaning.
///
/// Fields other than `data` are single lines on the wire, so line breaks in them would inject
/// extra fields; these errors are raised instead of silently corrupting the stream.
public enum ServerSentEventEncodingError: Error, Hashable, CustomStringConvertible {
    /// The ID contains CR, LF or NUL (a NUL would make clients ignore the ID).
    case invalidID(String)
    /// The event type contains CR or LF.
    case invalidEventType(String)
    /// The retry time is negative.
    case invalidRetry(Int)

    /// A human-readable explanation, suitable for logs.
    public var description: String {
        switch self {
        case .invalidID(let id):
            "invalid server-sent event ID \(String(reflecting: id)): must not contain CR, LF or NUL"
        case .invalidEventType(let type):
            "invalid server-sent event type \(String(reflecting: type)): must not contain CR or LF"
        case .invalidRetry(let retry):
            "invalid server-sent event retry \(retry): must not be negative"
        }
    }
}
