import NIOCore

/// What a shard knows of one subscriber: its selectors, its authorization, and its sink.
/// Created by the hub, then owned by one shard and touched only on that shard's event loop.
///
/// One per idle stream: keep it at 88 bytes (glibc's 96-byte chunk). What only registration
/// or a few subscribers need (padding, the token's expiry) travels in the register command
/// and the shard's own tables instead.
final class HubSubscriber: @unchecked Sendable {
    let id: UInt64
    let selectors: [TopicSelector]
    /// Selectors from the subscriber's authorization; nil for anonymous subscribers.
    let privateSelectors: [TopicSelector]?
    let sink: any SubscriberSink

    /// Sequence of the last update handed to this subscriber, so that an update matching
    /// several of its selectors is delivered once.
    var lastSequence: UInt64 = .max
    /// Live updates at or before this broker position were already replayed from the broker's
    /// history; they are skipped so the join has no duplicate.
    var skipUpTo: UpdatePosition?
    /// Whether anything was written since the last heartbeat tick.
    var activeSinceHeartbeat = false
    /// Whether this subscriber got bytes in the batch being processed (needs a flush).
    var needsFlush = false

    init(
        id: UInt64,
        selectors: [TopicSelector],
        privateSelectors: [TopicSelector]?,
        sink: any SubscriberSink
    ) {
        self.id = id
        self.selectors = selectors
        self.privateSelectors = privateSelectors
        self.sink = sink
    }

    /// Whether one of `selectors` matches one of the update's topics.
    func selects(_ update: Update) -> Bool {
        Self.any(of: selectors, matchesAnyOf: update.topics)
    }

    /// Whether this subscriber may see the update: public, or private with an authorizing claim.
    func isAuthorized(for update: Update) -> Bool {
        guard update.isPrivate else { return true }
        return Self.authorizes(privateSelectors, toSee: update.topics)
    }

    /// The one rule for private content: whether a subscriber authorized for
    /// `privateSelectors` (nil: anonymous, never) may see something identified by one of
    /// `topics`. Private updates go through it, and so does the subscriptions API, item by item
    /// (`SubscriptionResource.isVisible(to:)`): a resource is listed exactly when its
    /// subscription events would be delivered.
    static func authorizes(_ privateSelectors: [TopicSelector]?, toSee topics: [String]) -> Bool {
        guard let privateSelectors else { return false }
        return any(of: privateSelectors, matchesAnyOf: topics)
    }

    /// Whether the update is for this subscriber. An anonymous subscriber is refused a private
    /// update before any template is matched.
    func canReceive(_ update: Update) -> Bool {
        if update.isPrivate, privateSelectors == nil { return false }
        return selects(update) && isAuthorized(for: update)
    }

    static func any(of selectors: [TopicSelector], matchesAnyOf topics: [String]) -> Bool {
        for selector in selectors {
            if selector.isWildcard { return true }
            for topic in topics where selector.matches(topic) { return true }
        }
        return false
    }
}
