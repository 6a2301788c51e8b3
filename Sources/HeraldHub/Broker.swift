import NIOCore

/// Carries updates from publishers to every hub that shares them: in-process, or across nodes.
///
/// The hub calls `attach` once, then `publish` for each update. The broker hands every update
/// it carries (from this node or another) to the attached `BrokerIntake`, one at a time and in
/// one order, which is the order subscribers see.
public protocol Broker: Sendable {
    /// Registers the hub's intake (its update delivery, fan-out wait and counters); called
    /// once, before any `publish` and before `run`. Keep the object itself (e.g. in a
    /// `BrokerIntakeSlot`), never a closure made from it.
    func attach(_ intake: BrokerIntake)
    /// Stores and distributes `update`; assigns an id when it has none, and returns the id.
    func publish(_ update: Update) async throws -> String
    /// The broker's own history after `id` (exclusive; `earliest` for all of it), oldest first,
    /// at most `limit` updates; nil when the broker keeps no history or does not know `id`.
    /// When the broker can tell that `id` is older than everything it retains (its history was
    /// trimmed past it, or lost, as by a Redis restarted without persistence), it returns what
    /// it retains with `missedSome` set: the hub then tells the subscriber about the gap.
    /// Finding `id` must cost a bounded amount of work: never a scan of the history.
    func updates(after id: String, limit: Int) async throws -> BrokerHistory?
    /// Publishes at once, without suspending, when the broker can (the in-memory one can);
    /// nil means "use `publish(_:)`". Lets a server answer a publish on its event loop.
    func publishImmediately(_ update: Update) -> String?
    /// Starts a publish without a task when the broker can (Redis, once connected and its
    /// script loaded): the id arrives as a future completed on the broker's connection loop;
    /// nil means "use `publish(_:)`". Lets a server answer a publish from its event loop
    /// while the broker round trip is in flight, with no task or thread hop per publish.
    /// Failures are `HubError`s, as from `publish(_:)`.
    func publishOnLoop(_ update: Update) -> EventLoopFuture<String>?
    /// Background work (connections, resubscription) until the task is cancelled.
    func run() async throws
    /// Records a subscription of this node in a registry shared by all nodes (if the broker has one).
    func register(_ subscription: ActiveSubscription) async throws
    /// Removes a subscription of this node from the shared registry.
    func unregister(_ subscriptionID: String) async throws
    /// Records a batch of this node's subscription changes in the shared registry: `added`
    /// start, `removed` (ids) end. The hub calls this instead of `register`/`unregister`, with
    /// whatever changed since its previous call, so a broker can write a batch in a few commands.
    func updateRegistry(added: [ActiveSubscription], removed: [String]) async throws
    /// Replaces everything the shared registry holds for this node with `subscriptions` (its
    /// live ones). The hub calls it instead of `updateRegistry` when changes were lost (a
    /// failed write, more changes waiting than `HubConfiguration.maxPendingPresenceChanges`,
    /// or a registry the broker found gone): after it the registry is exact again.
    func replaceRegistry(with subscriptions: [ActiveSubscription]) async throws
    /// Delivers presence updates (`Update.isSubscriptionEvent`) to the hub of every node, live
    /// only: never stored in the broker's history (no replay, no id), so churn costs no history
    /// space; a node that is disconnected from the broker meanwhile misses them (the
    /// subscriptions API has the state). The hub calls it once per batch of changes.
    func announce(_ updates: [Update]) async throws
    /// Every node's active subscriptions; nil when the broker keeps no shared registry.
    func activeSubscriptions() async throws -> [ActiveSubscription]?
}

extension Broker {
    /// By default publishing goes through `publish(_:)`.
    public func publishImmediately(_ update: Update) -> String? { nil }
    /// By default publishing that waits goes through `publish(_:)`.
    public func publishOnLoop(_ update: Update) -> EventLoopFuture<String>? { nil }
    /// By default there is no shared registry: each node lists its own subscriptions.
    public func register(_ subscription: ActiveSubscription) async throws {}
    /// By default there is no shared registry.
    public func unregister(_ subscriptionID: String) async throws {}
    /// By default a batch is recorded one subscription at a time.
    public func updateRegistry(added: [ActiveSubscription], removed: [String]) async throws {
        for subscription in added { try await register(subscription) }
        for id in removed { try await unregister(id) }
    }
    /// By default the live subscriptions are recorded again (a broker whose registry may hold
    /// subscriptions that ended meanwhile should drop them too).
    public func replaceRegistry(with subscriptions: [ActiveSubscription]) async throws {
        try await updateRegistry(added: subscriptions, removed: [])
    }
    /// By default each presence update is published like any other update (the hub keeps
    /// presence out of its own history and writes it without an id either way).
    public func announce(_ updates: [Update]) async throws {
        for update in updates { _ = try await publish(update) }
    }
    /// By default there is no shared registry.
    public func activeSubscriptions() async throws -> [ActiveSubscription]? { nil }
}

/// A slice of a broker's durable history, for replaying to a reconnecting subscriber.
public struct BrokerHistory: Sendable {
    /// The position of the update the slice starts after; nil when it starts at the beginning.
    public var after: UpdatePosition?
    /// The updates, oldest first, each with its `position`.
    public var updates: [Update]
    /// Whether updates between the asked id and this slice are no longer retained (the id is
    /// older than the broker's history, or the slice was cut at the limit): the subscriber
    /// gets the in-band gap event (`Hub.gapEventType`) before the replay.
    public var missedSome: Bool

    /// Creates a slice.
    public init(after: UpdatePosition?, updates: [Update], missedSome: Bool = false) {
        self.after = after
        self.updates = updates
        self.missedSome = missedSome
    }
}
