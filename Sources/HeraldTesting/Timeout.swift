/// A bounded wait that ran out: what was awaited, and for how long.
public struct TimedOut: Error, CustomStringConvertible {
    /// What the test was waiting for.
    public let what: String
    /// How long it waited, when the waiter knows.
    public let timeout: Duration?

    /// Creates the error for a wait on `what` that took longer than `timeout`.
    public init(_ what: String, after timeout: Duration? = nil) {
        self.what = what
        self.timeout = timeout
    }

    public var description: String {
        timeout.map { "timed out after \($0) waiting for \(what)" } ?? "timed out waiting for \(what)"
    }
}

/// Runs `body`, and throws ``TimedOut`` (cancelling `body`) if it takes longer than `timeout`:
/// every wait of a test stays bounded, so a lost event fails the test instead of hanging it.
///
/// ```swift
/// let id = try await withTimeout(.seconds(5), "the publish") { try await hub.publish(topic: "news", data: "hi") }
/// ```
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    _ what: String = "an operation",
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut(what, after: timeout)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
