import struct Foundation.Date

/// What a subscriber asks for: which topics, with which authorization, from which point.
public struct SubscribeRequest: Sendable {
    /// Topic selectors: exact topics, URI templates or `*`.
    public var selectors: [TopicSelector]
    /// Selectors of the subscriber's authorization (the JWT `mercure.subscribe` claim) that
    /// unlock private updates; nil for anonymous subscribers, who see public updates only.
    public var privateSelectors: [TopicSelector]?
    /// Replay what came after this id (`Last-Event-ID`); `earliest` replays all retained history.
    public var lastEventID: String?
    /// Opaque JSON the authorization attached (`mercure.payload`), shown by the subscriptions API.
    public var payload: String?
    /// When the authorization ends (the token's `exp`): the hub then closes the stream with
    /// ``StreamCloseReason/authorizationExpired``, so an expired or revoked subscriber stops
    /// receiving private updates. Nil: the stream lives until the client or the hub ends it.
    public var authorizationExpiry: Date?
    /// Start the stream with a 2 KiB comment (`Hub.paddingComment`): old Internet Explorer and
    /// Android browsers deliver nothing of a streamed XHR response before its first 2 KiB
    /// (the EventSource polyfills' server-side requirement).
    package var padded = false
    /// Whether the subscription is listed (subscriptions API) and announced (presence). A
    /// long-poll is not: it is only subscribed between two polls, and announcing each would
    /// wake every poller that follows presence, whose next poll would be announced in turn.
    package var isAnnounced = true
    /// Marks a Mercure 1.0 subscription (`match=`, `match_urlpattern=`): the payload of each
    /// selector's subscription, in `selectors` order (each 1.0 `subscribe` grant has its own).
    /// Nil for 0.x, whose subscriptions all share `payload`. The subscriptions API and the
    /// subscription events show 1.0 subscriptions in the 1.0 shape (`match_type`, `match`).
    package var matcherPayloads: [String?]? = nil

    /// Creates a request.
    public init(
        selectors: [TopicSelector],
        privateSelectors: [TopicSelector]? = nil,
        lastEventID: String? = nil,
        payload: String? = nil,
        authorizationExpiry: Date? = nil
    ) {
        self.selectors = selectors
        self.privateSelectors = privateSelectors
        self.lastEventID = lastEventID
        self.payload = payload
        self.authorizationExpiry = authorizationExpiry
    }
}

/// One active subscription, as the subscriptions API lists it.
public struct ActiveSubscription: Sendable, Hashable, Codable {
    /// The subscription's IRI-safe id (`urn:uuid:...`).
    public let id: String
    /// The selectors it subscribed with.
    public let topics: [String]
    /// The JSON payload from its authorization, if any.
    public let payload: String?
    /// Mercure 1.0: each selector's matcher type (`exact`, `urlpattern`), in `topics` order;
    /// nil for a 0.x subscription.
    public let matchTypes: [String]?
    /// Mercure 1.0: each selector's payload, in `topics` order; nil for 0.x (`payload` serves all).
    public let matcherPayloads: [String?]?

    /// Creates a record (brokers rebuild them from their shared registry).
    public init(id: String, topics: [String], payload: String?, matchTypes: [String]? = nil, matcherPayloads: [String?]? = nil) {
        self.id = id
        self.topics = topics
        self.payload = payload
        self.matchTypes = matchTypes
        self.matcherPayloads = matcherPayloads
    }
}

/// Counters for monitoring and tests.
public struct HubStatistics: Sendable, Hashable {
    /// Subscribers currently connected to this hub.
    public var subscribers: Int
    /// Updates dispatched to this hub's subscribers since start.
    public var dispatched: UInt64
    /// Live updates written to subscribers since start (one per update and subscriber;
    /// replayed history not included).
    public var delivered: UInt64
    /// Subscriptions opened since start.
    public var subscriptionsOpened: UInt64
    /// Subscribers dropped because they fell behind their bound.
    public var dropped: UInt64
    /// Updates currently retained for replay.
    public var historyCount: Int
    /// Reads of the broker's catch-up (after a lost connection) that failed and were retried
    /// since start; the node delivers nothing newer until the read succeeds.
    public var brokerCatchUpRetries: UInt64 = 0
    /// Subscriptions that started with the gap event (`Hub.gapEventType`): their
    /// `Last-Event-ID` was not in history, so they may have missed updates.
    public var gapEvents: UInt64 = 0
    /// Publishes recognised as retries by their id (answered with it, neither stored nor
    /// delivered again): by this hub's history in memory, by the publish script with Redis.
    public var publishDuplicates: UInt64 = 0
    /// Matching states of the distinct template selectors in use (`HubConfiguration.maxMatchingStates`
    /// bounds it).
    public var matchingStates: Int = 0
    /// Subscription starts and ends dropped unannounced since start, because more than
    /// `HubConfiguration.maxPendingPresenceChanges` were waiting for their batch (the shared
    /// registry is then rewritten whole; subscription events for them were lost).
    public var presenceChangesDropped: UInt64 = 0
}
