/// One update published to the hub: the Mercure notion of an event addressed to one or more topics.
///
/// The first topic is the canonical one; the others are alternates that subscribers may match too.
public struct Update: Sendable, Hashable {
    /// Topics (IRIs) this update belongs to; never empty once validated.
    public var topics: [String]
    /// The payload, written as `data:` lines.
    public var data: String
    /// The event id; the hub assigns `urn:uuid:...` when the publisher gives none.
    public var id: String?
    /// The SSE event type (`event:` field); nil means the default `message`.
    public var type: String?
    /// Reconnection time hint in milliseconds (`retry:` field).
    public var retry: Int?
    /// Private updates reach only subscribers whose authorization covers one of the topics.
    public var isPrivate: Bool
    /// The update's place in the broker's total order, when the broker has one (the Redis
    /// stream id); lets a replay from the broker's history join live delivery without duplicates.
    public var position: UpdatePosition?

    /// Creates an update; `validated()` checks it before it is published.
    public init(
        topics: [String],
        data: String,
        id: String? = nil,
        type: String? = nil,
        retry: Int? = nil,
        isPrivate: Bool = false
    ) {
        self.topics = topics
        self.data = data
        self.id = id
        self.type = type
        self.retry = retry
        self.isPrivate = isPrivate
    }
}

/// Why an update cannot be published; `reason` is short and safe to show to the publisher.
public struct InvalidUpdateError: Error, Hashable, CustomStringConvertible {
    /// A short human-readable reason.
    public let reason: String
    /// Creates the error with its reason.
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Update {
    /// The reserved `Last-Event-ID` value that asks for the whole retained history.
    public static let earliestID = "earliest"
    /// Upper bound on the number of topics of one update, so a request cannot make fan-out unbounded.
    public static let maxTopics = 100

    /// Throws when the update could not be written safely as one SSE event, or has a topic
    /// longer than `maxTopicLength` UTF-8 bytes (a hub passes its `HubConfiguration.maxTopicLength`:
    /// every topic is matched against subscribers' templates, at a cost that grows with its length).
    public func validate(maxTopicLength: Int = .max) throws(InvalidUpdateError) {
        if topics.isEmpty { throw InvalidUpdateError("missing topic") }
        if topics.count > Self.maxTopics { throw InvalidUpdateError("too many topics (max \(Self.maxTopics))") }
        for topic in topics {
            if topic.isEmpty { throw InvalidUpdateError("empty topic") }
            if topic.utf8.count > maxTopicLength {
                throw InvalidUpdateError("topic is longer than \(maxTopicLength) bytes")
            }
        }
        if let id {
            if id.isEmpty { throw InvalidUpdateError("empty id") }
            if id == Self.earliestID { throw InvalidUpdateError("id 'earliest' is reserved") }
            if id.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) {
                throw InvalidUpdateError("id must not contain CR, LF or NUL")
            }
        }
        if let type, type.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            throw InvalidUpdateError("type must not contain CR or LF")
        }
        if let retry, retry < 0 { throw InvalidUpdateError("retry must be a non-negative integer") }
    }
}

/// A position in a broker's total order of updates, such as a Redis stream id `ms-seq`.
public struct UpdatePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The major part (milliseconds for Redis).
    public var major: UInt64
    /// The minor part (sequence within the millisecond for Redis).
    public var minor: UInt64

    /// Creates a position.
    public init(major: UInt64, minor: UInt64) {
        self.major = major
        self.minor = minor
    }

    /// Parses `major-minor` (a Redis stream id); nil for anything else.
    ///
    /// Read in one pass over the UTF-8 bytes: a Redis node parses one per update it receives,
    /// and splitting into substrings for `UInt64.init(_:)` cost about 3% of its CPU. Each part
    /// reads as `UInt64.init(_:)` would: an optional `+`, then at least one decimal digit, no overflow.
    public init?(_ text: some StringProtocol) {
        var parts: (major: UInt64, minor: UInt64) = (0, 0)
        var inMinor = false
        var digits = 0
        var signed = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let current = inMinor ? parts.minor : parts.major
                let (times, overflow1) = current.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                if inMinor { parts.minor = sum } else { parts.major = sum }
                digits += 1
            case UInt8(ascii: "+") where digits == 0 && !signed:
                signed = true
            case UInt8(ascii: "-") where !inMinor && digits > 0:
                inMinor = true
                digits = 0
                signed = false
            default:
                return nil
            }
        }
        guard inMinor, digits > 0 else { return nil }
        self.init(major: parts.major, minor: parts.minor)
    }

    public static func < (lhs: UpdatePosition, rhs: UpdatePosition) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { "\(major)-\(minor)" }
}

extension Update {
    /// Whether this is a presence update: private, and every topic a subscription resource
    /// (`/.well-known/mercure/subscriptions/…`). Hubs deliver these live but never keep them in
    /// their replay history, so presence churn cannot push real updates out of it.
    package var isSubscriptionEvent: Bool {
        isPrivate && topics.allSatisfy { $0.hasPrefix(SubscriptionResource.basePath + "/") }
    }
}
