import ServerSentEvents
import Synchronization

/// One subscription of a test: the events it has received, in order, read with a timeout.
///
/// ``TestHub/subscribe(topics:lastEventID:token:receivesPrivateUpdates:timeout:)`` returns it once
/// the hub has registered the subscription, so anything published after that reaches it.
/// ``next(timeout:)`` and ``collect(_:timeout:)`` hand out events one after another (each
/// event once); ``received`` shows all of them. A gap signal arrives as an event of type
/// `herald-gap`. The subscription ends with its ``TestHub``.
public final class TestSubscription: Sendable {
    private struct Waiter {
        let id: UInt64
        let count: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var events: [ServerSentEvent] = []
        var consumed = 0
        var isOpen = false
        /// Why the stream ended, when it has.
        var end: (any Error)?
        var isEnded = false
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0

        /// Waiters whose wait is over (enough events, opened, or the end), removed.
        mutating func takeSatisfied() -> [CheckedContinuation<Void, Never>] {
            let satisfied = waiters.filter { isEnded || ($0.count == 0 ? isOpen : events.count - consumed >= $0.count) }
            waiters.removeAll { waiter in satisfied.contains { $0.id == waiter.id } }
            return satisfied.map(\.continuation)
        }
    }

    private let state = Mutex(State())
    /// What the subscription follows, for error messages.
    let label: String

    init(label: String) {
        self.label = label
    }

    /// Every event received so far, consumed or not.
    public var received: [ServerSentEvent] {
        state.withLock { $0.events }
    }

    /// The next event not yet handed out; throws ``TimedOut`` when none comes within `timeout`,
    /// or the stream's error when it ended.
    public func next(timeout: Duration = .seconds(5)) async throws -> ServerSentEvent {
        try await collect(1, timeout: timeout)[0]
    }

    /// The next `count` events not yet handed out, in order; throws ``TimedOut`` when they have
    /// not all come within `timeout` (the ones that did stay for the next call), or the
    /// stream's error when it ended first.
    public func collect(_ count: Int, timeout: Duration = .seconds(5)) async throws -> [ServerSentEvent] {
        precondition(count > 0, "collect at least one event")
        try await wait(for: count, timeout: timeout, what: "\(count) event(s) on \(label)")
        return try state.withLock { state in
            guard state.events.count - state.consumed >= count else {
                throw state.end ?? SubscriptionEnded(label: label, received: state.events.count)
            }
            let taken = Array(state.events[state.consumed..<state.consumed + count])
            state.consumed += count
            return taken
        }
    }

    /// Waits until the hub has answered the subscription (or it failed).
    func waitUntilOpen(timeout: Duration) async throws {
        try await wait(for: 0, timeout: timeout, what: "\(label) to open")
        let failure: (any Error)? = state.withLock { state in
            state.isOpen ? nil : state.end ?? SubscriptionEnded(label: label, received: 0)
        }
        if let failure { throw failure }
    }

    // MARK: fed by the pump

    func opened() {
        resume(state.withLock { state in
            state.isOpen = true
            return state.takeSatisfied()
        })
    }

    func append(_ event: ServerSentEvent) {
        resume(state.withLock { state in
            state.events.append(event)
            return state.takeSatisfied()
        })
    }

    func finish(_ error: (any Error)?) {
        resume(state.withLock { state in
            if !state.isEnded {
                state.isEnded = true
                state.end = error
            }
            return state.takeSatisfied()
        })
    }

    private func resume(_ continuations: [CheckedContinuation<Void, Never>]) {
        for continuation in continuations { continuation.resume() }
    }

    /// Waits (bounded) until `count` unconsumed events are there (0: until open), or the end.
    private func wait(for count: Int, timeout: Duration, what: String) async throws {
        try await withTimeout(timeout, what) { [self] in
            let id = self.state.withLock { state in
                state.nextWaiterID += 1
                return state.nextWaiterID
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                        // Checked under the lock, so a cancellation either is seen here or
                        // finds the waiter in `onCancel`.
                        if Task.isCancelled { return [continuation] }
                        state.waiters.append(Waiter(id: id, count: count, continuation: continuation))
                        return state.takeSatisfied()
                    }
                    self.resume(ready)
                }
            } onCancel: {
                // Timed out: release the waiter (unless it was resumed already).
                self.resume(
                    self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                        let gone = state.waiters.filter { $0.id == id }.map(\.continuation)
                        state.waiters.removeAll { $0.id == id }
                        return gone
                    }
                )
            }
        }
    }
}

/// The subscription's stream ended before the events a test waited for.
public struct SubscriptionEnded: Error, CustomStringConvertible {
    /// What the subscription followed.
    public let label: String
    /// How many events it had received in all.
    public let received: Int

    public var description: String { "\(label) ended after \(received) event(s)" }
}
