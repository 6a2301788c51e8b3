import Synchronization

/// The hub as a broker sees it: where updates go, the fan-out wait, and the broker's counters.
///
/// The hub makes one when it is created and hands it to its broker (`Broker.attach(_:)`), which
/// keeps this reference (set once) and calls its methods: plain method calls on an object, no
/// closure stored anywhere. A closure kept in a generic lock box and read back through its
/// `inout` accessor (`withLockedValue { $0 }`) gets wrapped in two more reabstraction thunks on
/// every read, a chain that grew with each update and made a node's intake O(updates so far)
/// (first in publishing, then in the Redis broker's fan-out wait).
///
/// It holds the hub weakly: a broker outliving its hub drops what it receives.
public final class BrokerIntake: Sendable {
    private weak let hub: Hub?

    init(hub: Hub) {
        self.hub = hub
    }

    /// Hands `update` to the hub (which records it in history and fans it out). The broker
    /// calls it for every update it carries, one at a time, in the order subscribers see.
    public func deliver(_ update: Update) {
        hub?.dispatch(update)
    }

    /// Returns once the hub's fan-out is not behind (at once when it is not). A broker that
    /// receives updates from elsewhere awaits it before each delivery, so a hub that falls
    /// behind slows the broker's intake instead of queueing without bound.
    public func waitForFanOut() async {
        await hub?.waitForFanOut()
    }

    /// Whether the hub's fan-out is behind now (one atomic read): a broker that delivers from an
    /// event loop, where it cannot await `waitForFanOut()`, checks it before each delivery and,
    /// while it is true, holds its next updates back and stops reading their source until
    /// `whenFanOutCatchesUp(_:)` calls back.
    public var isFanOutBehind: Bool {
        hub?.isFanOutBacklogged ?? false
    }

    /// Calls `resume` (once, on some event loop) when the fan-out is no longer behind, or at
    /// shutdown, and returns true; returns false, never calling it, when it is not behind now.
    /// `waitForFanOut()` for a caller that cannot suspend.
    public func whenFanOutCatchesUp(_ resume: @escaping @Sendable () -> Void) -> Bool {
        hub?.whenFanOutCatchesUp(resume) ?? false
    }

    /// Counts one retried read of the broker's catch-up after a lost connection (the read
    /// failed and will be tried again); shown as `HubStatistics.brokerCatchUpRetries`.
    public func countCatchUpRetry() {
        hub?.countCatchUpRetry()
    }

    /// Tells the hub that the shared registry lost this node's entries (the broker found them
    /// gone, e.g. after a Redis restart without persistence): its next batch rewrites them from
    /// the live subscriptions (`Broker.replaceRegistry(with:)`).
    public func registryLost() {
        hub?.registryLost()
    }

    /// Counts one publish the broker recognised as a retry of an id it still holds (and so
    /// neither stored nor published again); shown as `HubStatistics.publishDuplicates`.
    public func countDuplicatePublish() {
        hub?.countDuplicatePublish()
    }
}

/// Where a broker keeps the hub's `BrokerIntake` between `attach(_:)` and its first use: a
/// class reference behind a lock (never a closure), read once per update.
public final class BrokerIntakeSlot: Sendable {
    private let intake = Mutex<BrokerIntake?>(nil)

    /// Creates an empty slot; updates are dropped until `attach(_:)`.
    public init() {}

    /// Keeps `intake` (called from the broker's `attach(_:)`).
    public func attach(_ intake: BrokerIntake) {
        self.intake.withLock { $0 = intake }
    }

    /// The attached intake; nil before `attach(_:)`.
    public var current: BrokerIntake? {
        intake.withLock { $0 }
    }

    /// Hands `update` to the attached hub, if any.
    public func deliver(_ update: Update) {
        current?.deliver(update)
    }

    /// Waits for the attached hub's fan-out (see `BrokerIntake.waitForFanOut()`).
    public func waitForFanOut() async {
        await current?.waitForFanOut()
    }

    /// Counts a catch-up retry on the attached hub (see `BrokerIntake.countCatchUpRetry()`).
    public func countCatchUpRetry() {
        current?.countCatchUpRetry()
    }

    /// Reports a lost registry to the attached hub (see `BrokerIntake.registryLost()`).
    public func registryLost() {
        current?.registryLost()
    }

    /// Counts a retried publish on the attached hub (see `BrokerIntake.countDuplicatePublish()`).
    public func countDuplicatePublish() {
        current?.countDuplicatePublish()
    }
}
