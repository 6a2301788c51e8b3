/// Errors the hub reports to the HTTP layer; each maps to one HTTP status.
public enum HubError: Error, Hashable, CustomStringConvertible {
    /// The update cannot be published as given (HTTP 400).
    case invalidUpdate(String)
    /// The subscription asks for more than the hub's limits allow (HTTP 400).
    case invalidSubscription(String)
    /// The hub is shutting down and takes no new work (HTTP 503).
    case shuttingDown
    /// The broker cannot take updates right now, e.g. Redis is unreachable (HTTP 503).
    case brokerUnavailable(String)
    /// A hub-wide bound is reached, e.g. the matching states of all distinct template selectors
    /// (`HubConfiguration.maxMatchingStates`); not this client's fault, and it may pass when
    /// other subscribers leave (HTTP 503 with `Retry-After: HubError.retryAfterSeconds`).
    case overloaded(String)

    /// The `Retry-After` (seconds) sent with `overloaded`.
    public static let retryAfterSeconds = 30

    public var description: String {
        switch self {
        case .invalidUpdate(let reason), .invalidSubscription(let reason): reason
        case .shuttingDown: "the hub is shutting down"
        case .brokerUnavailable(let reason): "broker unavailable: \(reason)"
        case .overloaded(let reason): "hub busy: \(reason)"
        }
    }
}
