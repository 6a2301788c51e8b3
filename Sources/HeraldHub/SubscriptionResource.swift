/// The Mercure view of a subscription: one resource per (selector, subscriber) pair, as JSON-LD.
/// The subscriptions API lists these, and subscription events (presence) carry them.
///
/// Two shapes, after the protocol the subscription was made with. Mercure 0.x (`topic=`): at
/// `/.well-known/mercure/subscriptions/{topic}/{subscriber}` with a `topic` property. Mercure 1.0
/// (`match=`, `match_urlpattern=`): at
/// `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}` with `match_type` and
/// `match` (the specification's "Active Subscriptions" section; `match_type` is `exact` or
/// `urlpattern`).
public struct SubscriptionResource: Sendable, Hashable {
    /// The topic selector subscribed to (1.0: the matcher, `match`).
    public let topic: String
    /// The subscriber's id (`urn:uuid:...`).
    public let subscriber: String
    /// Whether the subscription is live (presence updates say false when it ends).
    public let active: Bool
    /// JSON text from the subscriber's authorization (0.x `mercure.payload`; 1.0 the payload of
    /// the first `subscribe` detail matching this matcher), if any.
    public let payload: String?
    /// The matcher type of a Mercure 1.0 subscription (`exact`, `urlpattern`); nil for 0.x.
    public let matchType: String?

    /// Creates a resource (`matchType` nil: a 0.x subscription).
    public init(topic: String, subscriber: String, active: Bool, payload: String?, matchType: String? = nil) {
        self.topic = topic
        self.subscriber = subscriber
        self.active = active
        self.payload = payload
        self.matchType = matchType
    }

    /// Where subscription resources live (also the prefix of presence topics).
    package static let basePath = "/.well-known/mercure/subscriptions"

    /// The resource's IRI, which is also the topic its presence updates are published to
    /// (relative: the hub's own path). Each variable is percent-encoded once, as a whole.
    public var iri: String {
        var iri = Self.basePath + "/"
        if let matchType { iri += Self.percentEncode(matchType) + "/" }
        return iri + Self.percentEncode(topic) + "/" + Self.percentEncode(subscriber)
    }

    /// The JSON-LD object (with `last_event_id` when given: the 1.0 API's single-subscription
    /// document carries it at its root).
    public func document(lastEventID: String? = nil) -> String {
        var text = "{\"@context\":\"https://mercure.rocks/\",\"id\":"
        text += Self.jsonString(iri)
        text += ",\"type\":\"Subscription\""
        if let matchType {
            text += ",\"match_type\":" + Self.jsonString(matchType) + ",\"match\":" + Self.jsonString(topic)
        } else {
            text += ",\"topic\":" + Self.jsonString(topic)
        }
        text += ",\"subscriber\":" + Self.jsonString(subscriber)
        text += ",\"active\":" + (active ? "true" : "false")
        if let payload { text += ",\"payload\":" + payload }
        if let lastEventID { text += ",\"last_event_id\":" + Self.jsonString(lastEventID) }
        return text + "}"
    }

    /// The JSON-LD object, as subscription events carry it.
    public var json: String { document() }

    /// Whether a subscriber authorized for `privateSelectors` (its token's `subscribe`
    /// selectors; nil when anonymous) may see this resource: one of them matches its ``iri``.
    /// The same rule delivers the resource's subscription events (private updates whose topic
    /// is the IRI), so the subscriptions API (0.x and 1.0 collections, and single resources)
    /// lists exactly what its caller would be told about live.
    package func isVisible(to privateSelectors: [TopicSelector]?) -> Bool {
        HubSubscriber.authorizes(privateSelectors, toSee: [iri])
    }

    /// The matcher type name of a 1.0 selector (`exact` for `match=` / `match_exact=` and the
    /// wildcard, `urlpattern` for `match_urlpattern=`).
    public static func matchType(of selector: TopicSelector) -> String {
        selector.kind == .urlPattern ? "urlpattern" : "exact"
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (so `/` and `:` too).
    package static func percentEncode(_ string: String) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }

    /// A JSON string literal with the required escapes.
    package static func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension ActiveSubscription {
    /// One resource per selector of this subscription (1.0 shape when it has matcher types).
    public var resources: [SubscriptionResource] {
        topics.indices.map { index in
            SubscriptionResource(
                topic: topics[index],
                subscriber: id,
                active: true,
                payload: matcherPayloads.map { index < $0.count ? $0[index] : nil } ?? payload,
                matchType: matchTypes.flatMap { index < $0.count ? $0[index] : nil }
            )
        }
    }
}
