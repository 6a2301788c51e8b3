import HeraldHub
import HeraldHTTP

/// Settings of the demo chat: the keys that sign its cookies, and its limits.
public struct HeraldChatConfiguration: Sendable {
    /// HS256 secret (32+ bytes) that signs the session cookie.
    public var sessionSecret: String
    /// The hub's subscriber key (HS256): the chat signs each user's `mercureAuthorization` cookie
    /// with it, so the hub shows them presence (private subscription updates).
    public var subscriberKey: HeraldKey
    /// Where the hub is mounted.
    public var hubPath = "/.well-known/mercure"
    /// Longest display name, in characters.
    public var maxNameLength = 32
    /// Longest message, in characters.
    public var maxMessageLength = 1000
    /// How long a session (and its hub token) lasts, in seconds.
    public var sessionLifetime: Double = 7 * 24 * 3600

    /// Creates a configuration; both keys must be HS256 secrets of at least 32 bytes.
    public init(sessionSecret: String, subscriberKey: HeraldKey) {
        self.sessionSecret = sessionSecret
        self.subscriberKey = subscriberKey
    }

    /// The topic of a room's messages.
    public static func topic(ofRoom room: String) -> String { "/chat/rooms/" + room }

    /// The `mercure.subscribe` claim of a chat visitor's hub token: the rooms' topics, and the
    /// subscription resources (subscriptions API, presence) of subscriptions to a room topic.
    /// `{room}` takes what a room name can hold (and pct-encoded bytes, as RFC 6570 values do), so
    /// subscriptions to topics outside `/chat/rooms/` never match.
    public static let visitorClaim: [String] = [
        topic(ofRoom: "{room}"),
        SubscriptionResource.basePath + "/" + SubscriptionResource.percentEncode(topic(ofRoom: "")) + "{room}{/subscriber}",
    ]

    /// Matches every room's topic: give it to `HubConfiguration.subscriptionEventSelectors`
    /// so the chat's rooms have presence when the hub's subscription events are off.
    public static let roomSelector: TopicSelector = {
        do {
            return try TopicSelector(topic(ofRoom: "{room}"))
        } catch {
            preconditionFailure("the room template is valid: \(error)")
        }
    }()

    /// Whether `room` is a valid room name: letters, digits, `-`, `_`, 1 to 64 of them.
    public static func isValidRoom(_ room: some StringProtocol) -> Bool {
        (1...64).contains(room.utf8.count)
            && room.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }
}
