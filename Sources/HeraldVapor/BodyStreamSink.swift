#if Vapor
import HeraldHTTP
import HeraldHub
import NIOCore
import Vapor

/// A stream on Vapor with no task: the hub's shard writes each event into the response's
/// `BodyStreamWriter`, on the connection's event loop (the writer's and the shard's), when the
/// event is published. An idle subscriber is this object and Vapor's own response state.
///
/// Vapor gives a route neither its channel's writability nor its closing, so the sink learns
/// both from its writes: at most one write at a time carries a promise (a *mark*); when a mark
/// completes, every byte up to it is in the kernel. Bytes written past the last completed mark
/// are what the connection still holds, bounded by the hub's `maxQueuedBytes` and
/// `maxQueuedEvents` (past them the hub drops the subscriber as too slow, and the connection
/// is closed). A failed mark means the client is gone: the subscription ends. An idle stream's
/// next write is at most a heartbeat away (`HubConfiguration.heartbeatInterval`), so a client
/// that leaves an idle stream is noticed within one heartbeat.
///
/// Until Vapor starts the body (`attach`, right after writing the head), events wait in
/// `pending`, within the same bounds (replayed history may exceed them by its own size).
final class BodyStreamSink: SubscriberSink, Sendable {
    let eventLoop: any EventLoop
    private let endpoint: HeraldEndpoint
    private let state: NIOLoopBoundBox<State>

    private struct State {
        var writer: (any BodyStreamWriter)?
        var subscription: Subscription?
        var pending: [EncodedEvent] = []
        var pendingBytes = 0
        var replayAllowance = 0
        /// Bytes and events handed to the writer, and how many of them a completed mark confirmed.
        var written = 0
        var writtenEvents = 0
        var confirmed = 0
        var confirmedEvents = 0
        var markInFlight = false
        var closed: StreamCloseReason?
        var ended = false
        /// A write failed before the subscription was known.
        var clientLeft = false
    }

    init(endpoint: HeraldEndpoint, eventLoop: any EventLoop) {
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    // MARK: SubscriberSink (called by the shard on `eventLoop`)

    func start(replay: [EncodedEvent]) {
        for event in replay {
            state.value.pending.append(event)
            state.value.pendingBytes += event.bytes.readableBytes
        }
        state.value.replayAllowance = state.value.pendingBytes
        drain()
    }

    func enqueue(_ event: EncodedEvent) -> Bool {
        if state.value.closed != nil || state.value.ended { return true }
        let bounds = endpoint.hub.configuration
        let size = event.bytes.readableBytes
        let allowance = state.value.replayAllowance
        if let writer = state.value.writer, state.value.pending.isEmpty {
            // What the connection may still hold: everything past the last completed mark.
            let heldBytes = state.value.written - state.value.confirmed
            let heldEvents = state.value.writtenEvents - state.value.confirmedEvents
            if heldBytes + size > bounds.maxQueuedBytes + allowance || heldEvents >= bounds.maxQueuedEvents {
                return false
            }
            write(event.bytes, to: writer)
            return true
        }
        if state.value.pendingBytes + size > bounds.maxQueuedBytes + allowance
            || state.value.pending.count >= bounds.maxQueuedEvents
        {
            return false
        }
        state.value.pending.append(event)
        state.value.pendingBytes += size
        return true
    }

    /// Vapor flushes every body write itself.
    func flush() {}

    func close(_ reason: StreamCloseReason) {
        guard state.value.closed == nil else { return }
        state.value.closed = reason
        if reason == .tooSlow {
            state.value.pending = []
            state.value.pendingBytes = 0
        }
        finishIfClosed()
    }

    // MARK: the response's side

    /// Remembers the subscription, to end it when a write shows the client is gone.
    func follow(_ subscription: Subscription) {
        eventLoop.execute {
            if self.state.value.clientLeft {
                subscription.cancel()
            } else if !self.state.value.ended {
                self.state.value.subscription = subscription
            }
        }
    }

    /// Vapor started the body (on `eventLoop`, its head written): write what waited, then
    /// every event as it comes.
    func attach(_ writer: any BodyStreamWriter) {
        eventLoop.execute {
            self.state.value.writer = writer
            // Vapor writes the head without flushing it: an empty body write (no chunk on the
            // wire) sends it now rather than with the first event, and its mark tells at once
            // whether the connection is still there.
            self.write(ByteBuffer(), to: writer)
            if let retry = self.endpoint.hub.configuration.retryField {
                self.write(retry, to: writer)
            }
            self.drain()
            self.finishIfClosed()
        }
    }

    private func write(_ bytes: ByteBuffer, to writer: any BodyStreamWriter) {
        state.value.written += bytes.readableBytes
        state.value.writtenEvents += 1
        guard !state.value.markInFlight else {
            writer.write(.buffer(bytes), promise: nil)
            return
        }
        state.value.markInFlight = true
        let mark = (bytes: state.value.written, events: state.value.writtenEvents)
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            self.state.value.markInFlight = false
            switch result {
            case .success:
                self.state.value.confirmed = mark.bytes
                self.state.value.confirmedEvents = mark.events
                // Caught up: replayed history no longer widens the bounds.
                if mark.bytes == self.state.value.written { self.state.value.replayAllowance = 0 }
            case .failure:
                self.clientGone()
            }
        }
        // The promise may complete inside this call (the bytes went out at once).
        writer.write(.buffer(bytes), promise: promise)
    }

    private func drain() {
        guard let writer = state.value.writer, state.value.closed != .tooSlow else { return }
        let events = state.value.pending
        state.value.pending = []
        state.value.pendingBytes = 0
        for event in events { write(event.bytes, to: writer) }
    }

    /// A write failed: the connection is closed. The hub then closes the sink (`.cancelled`).
    private func clientGone() {
        guard !state.value.ended else { return }
        let subscription = state.value.subscription
        state.value.subscription = nil
        if let subscription {
            subscription.cancel()
        } else {
            state.value.clientLeft = true
        }
    }

    /// Once closed and attached: write what is owed (and the final notice), then end the body:
    /// normally, or with an error for a subscriber dropped as too slow (Vapor then closes the
    /// connection, as the other transports do).
    private func finishIfClosed() {
        guard let reason = state.value.closed, let writer = state.value.writer, !state.value.ended else { return }
        state.value.ended = true
        let subscription = state.value.subscription
        state.value.subscription = nil
        if let notice = endpoint.hub.finalNotice(for: reason) {
            drain()
            write(notice.bytes, to: writer)
        }
        state.value.writer = nil
        if let subscription { endpoint.logStreamClosed(subscription, reason: "\(reason)") }
        if reason == .tooSlow {
            writer.write(.error(StreamDropped()), promise: nil)
        } else {
            writer.write(.end, promise: nil)
        }
    }
}
#endif
