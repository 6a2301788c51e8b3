import HeraldHub
import NIOCore

/// The Redis broker's live path: pub/sub messages go from the subscriber's event loop straight
/// into the hub, every message of one read in one call, with no task, stream or async hop per
/// message (a ``RedisSubscriberSink``).
///
/// It keeps the broker's two ordering rules, with the messages that must wait kept here, in
/// order, and the subscriber told to stop reading (Redis holds the rest) while they wait:
/// - After a connection comes up, nothing live is delivered until the broker has recorded its
///   baseline or caught up from the stream (`RedisBroker.connected()`, run by the broker's
///   `run()`, which reports back with `caughtUp(_:)`): the stream's updates come first, and the
///   live ones already delivered from it are skipped by their position. Reading goes on while
///   fewer than `bound` messages wait, so the connection's health checks keep working.
/// - Before each delivery it checks the hub's fan-out (`BrokerIntake.isFanOutBehind`, an atomic
///   read): while it is behind, the rest waits and reading stops until the hub calls back.
final class RedisLiveIntake: RedisSubscriberSink {
    private struct State: Sendable {
        /// Received and not yet delivered, oldest first.
        var waiting: [RedisPubSubMessage] = []
        /// Connections reported up whose baseline or catch-up is not done yet.
        var catchUps = 0
        /// A callback from the hub for the end of its backlog is pending.
        var fanOutWaiterArmed = false
        /// What this sink last asked of the subscriber.
        var pausedReading = false
        /// The broker stopped: nothing more goes to the hub.
        var stopped = false
    }

    private let state: NIOLoopBoundBox<State>
    private let loop: any EventLoop
    private weak let broker: RedisBroker?
    /// Most messages kept here during a catch-up before reading pauses.
    private let bound: Int
    /// One element per connection reported up, for the broker's `run()`.
    private let connections: AsyncStream<Void>.Continuation

    /// A sink whose subscriber runs on `loop`; `connections` gets an element for each connection
    /// that comes up, to be answered with `caughtUp(_:)`.
    init(broker: RedisBroker, loop: any EventLoop, bound: Int, connections: AsyncStream<Void>.Continuation) {
        self.broker = broker
        self.loop = loop
        self.bound = max(bound, 1)
        self.connections = connections
        self.state = .makeBoxSendingValue(State(), eventLoop: loop)
    }

    func subscriberConnected(_ subscriber: RedisSubscriber) {
        broker?.liveConnectionChanged(up: true)
        state.value.catchUps += 1
        connections.yield()
    }

    func subscriber(_ subscriber: RedisSubscriber, received messages: [RedisPubSubMessage]) {
        if state.value.stopped { return }
        if state.value.waiting.isEmpty, state.value.catchUps == 0 {
            // The common case: straight through, nothing copied.
            let delivered = deliver(messages[...])
            if delivered == messages.count { return }
            state.value.waiting = Array(messages[delivered...])
        } else {
            state.value.waiting += messages
        }
        drain(subscriber)
    }

    func subscriberDisconnected(_ subscriber: RedisSubscriber) {
        // What waits here stays: it came in order, and the next catch-up skips what it repeats.
        broker?.liveConnectionChanged(up: false)
    }

    /// The broker is done with one connection's baseline or catch-up: what waits goes on.
    /// Callable from any thread.
    func caughtUp(_ subscriber: RedisSubscriber) {
        loop.execute {
            self.state.value.catchUps -= 1
            self.drain(subscriber)
        }
    }

    /// The broker stopped (its `run()` is returning): what waits is dropped, and anything that
    /// still arrives (a read in flight, a late call back from the hub) goes nowhere.
    func stop() {
        loop.execute {
            self.state.value.stopped = true
            self.state.value.waiting = []
        }
    }

    /// Delivers from the front of `messages` until the hub's fan-out is behind; returns how
    /// many it delivered (all of them when there is no hub: they are dropped, as a broker
    /// outliving its hub does).
    private func deliver(_ messages: ArraySlice<RedisPubSubMessage>) -> Int {
        guard let broker, let intake = broker.attachedIntake else { return messages.count }
        var delivered = 0
        for message in messages {
            if intake.isFanOutBehind { break }
            broker.deliverLive(message, to: intake)
            delivered += 1
        }
        return delivered
    }

    /// Delivers what waits, unless a catch-up is under way or the fan-out is behind (then asks
    /// the hub to call back); pauses or resumes reading to match.
    private func drain(_ subscriber: RedisSubscriber) {
        if state.value.stopped { return }
        while state.value.catchUps == 0, !state.value.waiting.isEmpty {
            let delivered = deliver(state.value.waiting[...])
            state.value.waiting.removeFirst(delivered)
            if state.value.waiting.isEmpty || waitForFanOut(subscriber) { break }
            // The fan-out caught up between the check and the wait: deliver on.
        }
        let behind = state.value.catchUps > 0 ? state.value.waiting.count >= bound : !state.value.waiting.isEmpty
        guard behind != state.value.pausedReading else { return }
        state.value.pausedReading = behind
        if behind { subscriber.pauseReading() } else { subscriber.resumeReading() }
    }

    /// Asks the hub to call back when its fan-out catches up; false when it is not behind
    /// (anymore), so there is nothing to wait for.
    private func waitForFanOut(_ subscriber: RedisSubscriber) -> Bool {
        if state.value.fanOutWaiterArmed { return true }
        guard let intake = broker?.attachedIntake else { return false }
        let loop = self.loop
        let armed = intake.whenFanOutCatchesUp {
            loop.execute {
                self.state.value.fanOutWaiterArmed = false
                self.drain(subscriber)
            }
        }
        state.value.fanOutWaiterArmed = armed
        return armed
    }
}
