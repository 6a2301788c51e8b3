import NIOCore

/// One subscriber's stream, handed to whoever writes the HTTP response: call `stream(to:)`
/// with a function that writes bytes to the client; it returns when the stream ends.
public final class Subscription: Sendable {
    /// The subscription's id (`urn:uuid:...`), as the subscriptions API shows it.
    public var id: String { RandomUUID.urn(idBits) }
    /// The id's bits: an idle stream keeps 16 bytes, not a string on the heap.
    let idBits: RandomUUID.Bits
    /// The newest event id in history when the subscription started (Mercure sends it as the
    /// `Last-Event-ID` response header, so a client knows where it stands).
    public let lastEventID: String?
    /// False when the requested `Last-Event-ID` was not in history: updates may have been
    /// missed, and the stream starts with the gap event (`Hub.gapEventType`).
    public let replayFound: Bool

    let hub: Hub
    let subscriberID: UInt64
    let shardIndex: Int
    /// The buffer `stream(to:)` drains; nil when the hub writes to the subscriber's own sink.
    let queue: SubscriptionQueue?

    init(
        hub: Hub,
        subscriberID: UInt64,
        shardIndex: Int,
        id: RandomUUID.Bits,
        lastEventID: String?,
        replayFound: Bool,
        queue: SubscriptionQueue?
    ) {
        self.hub = hub
        self.subscriberID = subscriberID
        self.shardIndex = shardIndex
        self.idBits = id
        self.lastEventID = lastEventID
        self.replayFound = replayFound
        self.queue = queue
    }

    /// Writes the stream (replay, then live events and heartbeats) through `write`, in batches,
    /// until the hub shuts down, the subscriber is dropped as too slow, `cancel()` is called,
    /// or `write` throws (the client went away). Each call of `write` gets all bytes that were
    /// ready; a write stuck on a client that stopped reading is cancelled when the subscriber
    /// passes its queue bound.
    @discardableResult
    public func stream(to write: @escaping @Sendable ([ByteBuffer]) async throws -> Void) async throws
        -> StreamCloseReason
    {
        guard let queue = self.queue else {
            preconditionFailure("stream(to:) is for subscriptions made without a sink")
        }
        defer { cancel() }
        if let retry = hub.configuration.retryField { try await write([retry]) }
        return try await withThrowingTaskGroup(of: StreamCloseReason?.self) { group in
            group.addTask {
                while let next = await queue.next() {
                    switch next {
                    case .buffers(let buffers):
                        try await write(buffers)
                    case .end(let reason, let final):
                        if let final { try? await write([final]) }
                        return reason
                    }
                }
                return .cancelled
            }
            group.addTask {
                await queue.waitForAbort() ? .tooSlow : nil
            }
            while let result = try await group.next() {
                if let reason = result {
                    group.cancelAll()
                    return reason
                }
            }
            return .cancelled
        }
    }

    /// Ends the stream (for example when the application logs the user out); with `.shutdown`
    /// the client gets a final comment asking it to reconnect. Idempotent.
    public func cancel(reason: StreamCloseReason = .cancelled) {
        hub.unsubscribe(subscriberID, shard: shardIndex, reason: reason)
    }
}
