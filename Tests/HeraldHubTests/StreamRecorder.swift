import HeraldHub
import NIOConcurrencyHelpers
import NIOCore
import ServerSentEvents
import Testing

/// Records what a subscription writes, parsed back with the real SSE parser.
final class StreamRecorder: Sendable {
    private let parser = NIOLockedValueBox(ServerSentEventParser())
    private let recorded = NIOLockedValueBox<[ServerSentEventParser.Element]>([])
    private let waiters = NIOLockedValueBox<[(Int, CheckedContinuation<Void, Never>)]>([])

    func write(_ buffers: [ByteBuffer]) throws {
        for buffer in buffers {
            let elements = try parser.withLockedValue { try $0.feed(buffer) }
            recorded.withLockedValue { $0.append(contentsOf: elements) }
        }
        let count = recorded.withLockedValue { $0.count }
        let ready = waiters.withLockedValue { waiters -> [CheckedContinuation<Void, Never>] in
            let ready = waiters.filter { $0.0 <= count }.map(\.1)
            waiters.removeAll { $0.0 <= count }
            return ready
        }
        ready.forEach { $0.resume() }
    }

    var elements: [ServerSentEventParser.Element] { recorded.withLockedValue { $0 } }

    var events: [ServerSentEvent] {
        elements.compactMap { if case .event(let event) = $0 { event } else { nil } }
    }

    var comments: [String] {
        elements.compactMap { if case .comment(let text) = $0 { text } else { nil } }
    }

    /// Waits until at least `count` elements arrived, or `timeout` passed.
    func waitForElements(_ count: Int, timeout: Duration = .seconds(10)) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.recorded.withLockedValue { $0.count }
                    if now >= count {
                        continuation.resume()
                    } else {
                        self.waiters.withLockedValue { $0.append((count, continuation)) }
                        // Re-check: a write may have landed between the two locks.
                        if self.recorded.withLockedValue({ $0.count }) >= count { self.releaseAll() }
                    }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            self.releaseAll()
        }
    }

    /// Waits until `count` events (not comments) arrived.
    func waitForEvents(_ count: Int, timeout: Duration = .seconds(10)) async {
        let deadline = ContinuousClock.now + timeout
        while events.count < count && ContinuousClock.now < deadline {
            await waitForElements(elements.count + 1, timeout: .milliseconds(200))
        }
    }

    private func releaseAll() {
        let all = waiters.withLockedValue { waiters in
            defer { waiters = [] }
            return waiters.map(\.1)
        }
        all.forEach { $0.resume() }
    }
}

/// Starts streaming `subscription` into a new recorder; the task ends with the stream.
func record(_ subscription: Subscription) -> (StreamRecorder, Task<StreamCloseReason?, Never>) {
    let recorder = StreamRecorder()
    let task = Task { () -> StreamCloseReason? in
        try? await subscription.stream { buffers in try recorder.write(buffers) }
    }
    return (recorder, task)
}

/// A subscriber that sees every presence update (subscription event) of `hub`, recorded.
func recordPresence(of hub: Hub) async throws -> StreamRecorder {
    let presenceTopic = SubscriptionResource.basePath + "/{topic}/{subscriber}"
    let request = SubscribeRequest(selectors: try hub.selectors([presenceTopic]), privateSelectors: try hub.selectors(["*"]))
    return record(try await hub.subscribe(request)).0
}

func selectors(_ raw: String...) throws -> [TopicSelector] {
    try raw.map { try TopicSelector($0) }
}
