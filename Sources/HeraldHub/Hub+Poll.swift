import NIOCore
import ServerSentEvents

/// One answer to a client that cannot stream (long-polling): what a stream would have sent it
/// first, and the id to ask for next time.
package struct PollBatch: Sendable {
    /// Why the wait ended.
    package enum End: Sendable, Hashable {
        /// Events came (replayed or live).
        case events
        /// None came within the wait.
        case timeout
        /// The hub is shutting down.
        case shutdown
        /// The caller went away (its task was cancelled).
        case cancelled
    }

    /// The events as a stream would carry them, oldest first: the gap event first when the id
    /// asked for is not in history, then replayed or live updates. Empty when none came.
    package var events: [EncodedEvent]
    /// The id to resume from with the next poll: the last id among `events` (what the client's
    /// own parser holds after reading them), else the newest id in history when the wait
    /// started (nothing newer matched since, so nothing is skipped), else `earliest` (the
    /// history was empty: whatever it holds next is new).
    package var nextEventID: String
    /// False when the id asked for was not in history (the batch starts with the gap event).
    package var replayFound: Bool
    /// Why the wait ended.
    package var end: End
}

extension Hub {
    /// Long-polling: the events a subscription with `request` would get first, as soon as there
    /// is at least one, or an empty batch once `timeout` has passed. The wait is an ordinary
    /// subscription (the same replay, gap signal, selectors, limits and authorization as a
    /// stream) that ends at its first batch of events or at the timeout (the subscriber is
    /// removed as this returns, by its shard, like a cancelled stream), and nothing runs while
    /// it waits but a timer on a shard's event loop. The timeout starts once the replay is
    /// known to be empty, so a zero timeout still answers with what history holds.
    ///
    /// A batch holds at most `maxBytes` of events (at least one event): a long replay is cut
    /// there and `nextEventID` continues it on the next poll. Heartbeats and other comments
    /// are not part of a batch.
    package func poll(
        _ request: SubscribeRequest,
        timeout: TimeAmount,
        maxBytes: Int? = nil
    ) async throws(HubError) -> PollBatch {
        var request = request
        request.isAnnounced = false
        let eventLoop = shardLoops[Int.random(in: shardLoops.indices)]
        let sink = PollSink(eventLoop: eventLoop, maxBytes: maxBytes ?? configuration.maxQueuedBytes, timeout: timeout)
        let subscription: Subscription
        do throws(HubError) {
            subscription = try await subscribe(request, sink: sink, on: eventLoop)
        } catch {
            sink.finish(.cancelled)
            throw error
        }
        let outcome = await withTaskCancellationHandler {
            try? await sink.outcome.get()
        } onCancel: {
            sink.finish(.cancelled)
        }
        subscription.cancel()
        let (events, end) = outcome ?? ([], .cancelled)
        var parser = ServerSentEventParser()
        for event in events { _ = try? parser.feed(event.bytes) }
        let next = parser.lastEventID.isEmpty ? (subscription.lastEventID ?? Update.earliestID) : parser.lastEventID
        return PollBatch(events: events, nextEventID: next, replayFound: subscription.replayFound, end: end)
    }
}

/// The sink of one long-poll: collects the first batch of events (or nothing until the timer
/// fires) and completes `outcome` once. Its state lives on its shard's event loop.
final class PollSink: SubscriberSink {
    private struct State {
        var events: [EncodedEvent] = []
        var bytes = 0
        var done = false
        var timer: Scheduled<Void>?
    }

    private let eventLoop: any EventLoop
    private let maxBytes: Int
    private let timeout: TimeAmount
    private let state: NIOLoopBoundBox<State>
    private let promise: EventLoopPromise<([EncodedEvent], PollBatch.End)>

    /// Completed once: the events collected and why the wait ended.
    var outcome: EventLoopFuture<([EncodedEvent], PollBatch.End)> { promise.futureResult }

    init(eventLoop: any EventLoop, maxBytes: Int, timeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxBytes = max(maxBytes, 1)
        self.timeout = timeout
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: eventLoop)
        self.promise = eventLoop.makePromise()
    }

    /// Ends the wait from any thread (the caller went away, or the subscription failed).
    func finish(_ end: PollBatch.End) {
        eventLoop.execute { [self] in complete(end) }
    }

    private func complete(_ end: PollBatch.End) {
        eventLoop.assertInEventLoop()
        guard !state.value.done else { return }
        state.value.done = true
        state.value.timer?.cancel()
        state.value.timer = nil
        let events = state.value.events
        state.value.events = []
        promise.succeed((events, end))
    }

    /// Keeps an event for the batch unless it is a comment (heartbeat, padding, notice) or the
    /// batch is full; never refuses (a poll is never "too slow": what it leaves out, the next
    /// poll replays from `nextEventID`).
    private func collect(_ event: EncodedEvent) {
        guard !state.value.done, event.bytes.getInteger(at: event.bytes.readerIndex, as: UInt8.self) != UInt8(ascii: ":")
        else { return }
        let size = event.bytes.readableBytes
        if !state.value.events.isEmpty, state.value.bytes + size > maxBytes {
            complete(.events)
            return
        }
        state.value.events.append(event)
        state.value.bytes += size
    }

    // MARK: SubscriberSink (called by the shard on `eventLoop`)

    func start(replay: [EncodedEvent]) {
        for event in replay { collect(event) }
        if !state.value.events.isEmpty {
            complete(.events)
        } else if !state.value.done {
            // The wait starts once the replay is known to be empty (so `wait=0` still gets it).
            state.value.timer = eventLoop.scheduleTask(in: timeout) { [self] in complete(.timeout) }
        }
    }

    func enqueue(_ event: EncodedEvent) -> Bool {
        collect(event)
        return true
    }

    func flush() {
        if !state.value.events.isEmpty { complete(.events) }
    }

    func close(_ reason: StreamCloseReason) {
        complete(reason == .shutdown ? .shutdown : .cancelled)
    }
}
