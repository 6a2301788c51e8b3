import NIOConcurrencyHelpers
import NIOCore

/// The bounded outbound queue between a shard (producer, on its event loop) and the task that
/// writes one subscriber's response (consumer). It batches: one wake-up drains everything queued.
final class SubscriptionQueue: SubscriberSink {
    /// What the writer gets next.
    enum Next {
        case buffers([ByteBuffer])
        case end(StreamCloseReason, final: ByteBuffer?)
    }

    private struct State {
        var replay: [ByteBuffer] = []
        var replayIndex = 0
        var queue: [ByteBuffer] = []
        var queuedBytes = 0
        var closed: StreamCloseReason?
        var endDelivered = false
        var waiter: CheckedContinuation<Void, Never>?
        var abortWaiter: CheckedContinuation<Void, Never>?
        var cancelled = false
    }

    private let state = NIOLockedValueBox(State())
    private let maxBytes: Int
    private let maxEvents: Int
    private let replayBatchBytes = 64 * 1024
    /// The hub's ``Hub/finalNotice(for:)`` for each reason that has one.
    private let finalNotices: [StreamCloseReason: ByteBuffer]

    init(maxBytes: Int, maxEvents: Int, finalNotices: [StreamCloseReason: ByteBuffer]) {
        self.maxBytes = maxBytes
        self.maxEvents = maxEvents
        self.finalNotices = finalNotices
    }

    // MARK: producer side (shard loop)

    func start(replay: [EncodedEvent]) {
        guard !replay.isEmpty else { return }
        self.state.withLockedValue { state in
            state.replay = replay.map(\.bytes)
            state.replayIndex = 0
        }
    }

    func enqueue(_ event: EncodedEvent) -> Bool {
        let buffer = event.bytes
        return self.state.withLockedValue { state in
            if state.closed != nil { return true }
            let bytes = state.queuedBytes + buffer.readableBytes
            if bytes > self.maxBytes || state.queue.count >= self.maxEvents { return false }
            state.queue.append(buffer)
            state.queuedBytes = bytes
            return true
        }
    }

    func flush() {
        let waiter = self.state.withLockedValue { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func close(_ reason: StreamCloseReason) {
        typealias Waiters = (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?)
        let (waiter, abortWaiter) = self.state.withLockedValue { state -> Waiters in
            if state.closed == nil { state.closed = reason }
            if reason == .tooSlow {
                state.queue = []
                state.replay = []
                state.queuedBytes = 0
            }
            let waiter = state.waiter
            state.waiter = nil
            guard reason == .tooSlow else { return (waiter, nil) }
            let abortWaiter = state.abortWaiter
            state.abortWaiter = nil
            return (waiter, abortWaiter)
        }
        waiter?.resume()
        abortWaiter?.resume()
    }

    // MARK: consumer side (the writing task)

    /// Waits for the next batch; `nil` after the end was delivered or when the task is cancelled.
    func next() async -> Next? {
        while true {
            if let next = self.takeReady() { return next }
            if self.state.withLockedValue({ $0.cancelled || $0.endDelivered }) { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLockedValue { state -> Bool in
                        if state.cancelled || state.closed != nil || !state.queue.isEmpty
                            || state.replayIndex < state.replay.count
                        {
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.cancelWaiting()
            }
        }
    }

    /// Returns true when the subscriber is dropped as too slow, false when the task is cancelled.
    func waitForAbort() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state -> Bool in
                    if state.cancelled || state.closed == .tooSlow { return true }
                    state.abortWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.cancelWaiting()
        }
        return self.state.withLockedValue { $0.closed == .tooSlow }
    }

    private func cancelWaiting() {
        let (waiter, abortWaiter) = self.state.withLockedValue { state in
            state.cancelled = true
            defer {
                state.waiter = nil
                state.abortWaiter = nil
            }
            return (state.waiter, state.abortWaiter)
        }
        waiter?.resume()
        abortWaiter?.resume()
    }

    /// Everything the writer can take now: a slice of replay first, then the whole live queue.
    private func takeReady() -> Next? {
        self.state.withLockedValue { state -> Next? in
            if state.replayIndex < state.replay.count {
                var batch: [ByteBuffer] = []
                var bytes = 0
                while state.replayIndex < state.replay.count && bytes < self.replayBatchBytes {
                    let buffer = state.replay[state.replayIndex]
                    batch.append(buffer)
                    bytes += buffer.readableBytes
                    state.replayIndex += 1
                }
                if state.replayIndex == state.replay.count {
                    state.replay = []
                    state.replayIndex = 0
                }
                return .buffers(batch)
            }
            if !state.queue.isEmpty {
                let batch = state.queue
                state.queue = []
                state.queue.reserveCapacity(min(batch.count, 64))
                state.queuedBytes = 0
                return .buffers(batch)
            }
            if let reason = state.closed, !state.endDelivered {
                state.endDelivered = true
                return .end(reason, final: self.finalNotices[reason])
            }
            return nil
        }
    }
}
