import HeraldTesting
import NIOConcurrencyHelpers

/// Polls `condition` until it holds, failing after `timeout`: keeps every wait bounded.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what, after: timeout) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Collects everything that arrives on a stream, so tests can wait for it with a deadline.
final class Recorder<Element: Sendable>: Sendable {
    private let box = NIOLockedValueBox<[Element]>([])
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    init<Events: AsyncSequence & Sendable>(_ stream: Events) where Events.Element == Element, Events.Failure == Never {
        let box = self.box
        task.withLockedValue {
            $0 = Task {
                for await element in stream {
                    box.withLockedValue { $0.append(element) }
                }
            }
        }
    }

    var elements: [Element] { box.withLockedValue { $0 } }

    /// Waits until `condition` holds for the elements seen so far.
    func wait(
        for what: String, timeout: Duration = .seconds(10), _ condition: @escaping ([Element]) -> Bool
    ) async throws {
        try await waitUntil(what, timeout: timeout) { condition(self.elements) }
    }

    /// Waits until the stream has finished.
    func waitForEnd(timeout: Duration = .seconds(10)) async throws {
        let task = self.task.withLockedValue { $0 }
        try await withTimeout(timeout, "stream end") { await task?.value }
    }
}
