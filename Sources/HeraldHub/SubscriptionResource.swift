/// The Mercure view of a subscription: one resource per (selector, subscriber) pair, at
/// `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, as JSON-LD. The subscriptions API
/// lists these, and presence updates carry them.
public struct SubscriptionResource: Sendable, Hashable {
    /// The topic selector subscribed to.
    public let topic: String
    /// The subscriber's id (`urn:uuid:...`).
    public let subscriber: String
    /// Whether the subscription is live (presence updates say false when it ends).
    public let active: Bool
    /// JSON text from the subscriber's authorization (`mercure.payload`), if any.
    public let payload: String?

    /// Creates a resource.
    public init(topic: String, subscriber: String, active: Bool, payload: String?) {
        self.topic = topic
        self.subscriber = subscriber
        self.active = active
        self.payload = payload
    }

    /// Where subscription resources live (also the prefix of presence topics).
    package static let basePath = "/.well-known/mercure/subscriptions"

    /// The resource's IRI, which is also the topic its presence updates are published to.
    public var iri: String {
        Self.basePath + "/" + Self.percentEncode(topic) + "/" + Self.percentEncode(subscriber)
    }

    /// The JSON-LD object.
    public var json: String {
        var text = "{\"@context\":\"https://mercure.rocks/\",\"id\":"
        text += Self.jsonString(iri)
        text += ",\"type\":\"Subscription\",\"topic\":" + Self.jsonString(topic)
        text += ",\"subscriber\":" + Self.jsonString(subscriber)
        text += ",\"active\":" + (active ? "true" : "false")
        if let payload { text += ",\"payload\":" + payload }
        return text + "}"
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
    /// One resource per selector of this subscription.
    public var resources: [SubscriptionResource] {
        topics.map { SubscriptionResource(topic: $0, subscriber: id, active: true, payload: payload) }
    }
}
