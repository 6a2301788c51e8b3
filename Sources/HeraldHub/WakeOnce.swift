import NIOConcurrencyHelpers

/// Resumes one waiting continuation exactly once, whichever comes first: the event it waits
/// for, or cancellation (which may fire before the continuation is even armed).
final class WakeOnce: Sendable {
    private enum Phase {
        case idle
        case armed(CheckedContinuation<Void, Never>)
        case fired
    }

    private let phase = NIOLockedValueBox(Phase.idle)

    /// Stores the continuation, or resumes it at once when `fire()` came first.
    func arm(_ continuation: CheckedContinuation<Void, Never>) {
        let firedAlready = phase.withLockedValue { phase -> Bool in
            if case .fired = phase { return true }
            phase = .armed(continuation)
            return false
        }
        if firedAlready { continuation.resume() }
    }

    /// Resumes the continuation if it is armed and not resumed yet; later calls do nothing.
    func fire() {
        let continuation = phase.withLockedValue { phase -> CheckedContinuation<Void, Never>? in
            defer { phase = .fired }
            if case .armed(let continuation) = phase { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
