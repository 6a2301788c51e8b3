/// A Mercure topic selector: "*" (every topic), an exact topic (IRI), or an RFC 6570 URI template matched against topics.
///
/// Subscribers name the topics they want with selectors, and publishers' updates are routed to a
/// subscriber when one of its selectors matches one of the update's topics. Selectors are
/// validated once, when created, so matching never fails.
public struct TopicSelector: Sendable, Hashable, CustomStringConvertible {
    /// The longest selector accepted by default, in UTF-8 bytes; bounds the cost of compiling
    /// and matching it (a hub applies its own `HubConfiguration.maxTopicLength`).
    public static let maximumLength = 2048

    /// The selector that matches every topic ("*").
    public static let wildcard = TopicSelector(validated: "*", template: nil)

    /// The selector exactly as the client sent it.
    public let rawValue: String

    /// The compiled template when the selector contains template expressions; nil for "*" and exact topics.
    public let template: URITemplate?

    /// Validates `rawValue` and compiles it when it contains a template expression.
    ///
    /// Throws for an empty selector, one longer than ``maximumLength`` UTF-8 bytes, one whose
    /// braces do not form a valid RFC 6570 template (a stray "}", an unclosed "{", "{}", …), and a
    /// template more complex than ``maxExpressions``, ``maxVariables`` or ``maxMatchingStates`` allow.
    public init(_ rawValue: String) throws(TopicSelectorError) {
        try self.init(rawValue, maxLength: Self.maximumLength)
    }

    /// Validates `rawValue` (at most `maxLength` UTF-8 bytes) and compiles it when it contains a
    /// template expression; throws like ``init(_:)``.
    public init(_ rawValue: String, maxLength: Int) throws(TopicSelectorError) {
        let length = rawValue.utf8.count
        if length == 0 {
            throw TopicSelectorError(reason: "topic selector is empty")
        }
        if length > maxLength {
            throw TopicSelectorError(reason: "topic selector is longer than \(maxLength) bytes")
        }
        if rawValue == "*" {
            self = .wildcard
            return
        }
        let hasBraces = rawValue.utf8.contains { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }
        if hasBraces {
            let compiled = try URITemplate(rawValue)
            try Self.checkComplexity(compiled)
            self.init(validated: rawValue, template: compiled.isLiteral ? nil : compiled)
        } else {
            self.init(validated: rawValue, template: nil)
        }
    }

    /// Most `{…}` expressions a template selector may have.
    ///
    /// Matching costs O(topic length × automaton states), and every update is matched against
    /// every distinct template selector: real selectors have a handful of expressions, hostile
    /// ones (`{+a}{+a}…`, `{+a,a,a,…}`) are refused.
    public static let maxExpressions = 16
    /// Most variables a template selector may have, over all its expressions.
    public static let maxVariables = 32
    /// Most automaton states (``URITemplate/matchingStates``) a template selector may have.
    /// Bounds one match to O(topic length × 256) steps and a compiled selector to a few KiB.
    public static let maxMatchingStates = 256

    private static func checkComplexity(_ template: URITemplate) throws(TopicSelectorError) {
        if template.expressionCount > maxExpressions {
            throw TopicSelectorError(reason: "template too complex (more than \(maxExpressions) expressions)")
        }
        if template.variableCount > maxVariables {
            throw TopicSelectorError(reason: "template too complex (more than \(maxVariables) variables)")
        }
        if template.matchingStates > maxMatchingStates {
            throw TopicSelectorError(
                reason: "template too complex (more than \(maxMatchingStates) matching steps between its first and last expression)"
            )
        }
    }

    private init(validated rawValue: String, template: URITemplate?) {
        self.rawValue = rawValue
        self.template = template
    }

    /// Whether this is "*", which matches every topic.
    public var isWildcard: Bool {
        rawValue == "*"
    }

    /// Whether the selector contains at least one template expression (and so matches more than itself).
    public var isTemplate: Bool {
        template != nil
    }

    /// Whether an update published to `topic` is selected.
    ///
    /// "*" matches everything; a selector always matches a topic byte-for-byte equal to it (even
    /// when it looks like a template, as Mercure requires); otherwise the template must match.
    /// Comparison is on UTF-8 bytes, not Unicode canonical equivalence, as topics are identifiers.
    public func matches(_ topic: String) -> Bool {
        if isWildcard { return true }
        if rawValue.utf8.elementsEqual(topic.utf8) { return true }
        return template?.matches(topic) ?? false
    }

    /// The raw selector.
    public var description: String {
        rawValue
    }

    /// Selectors are equal when their raw texts are byte-for-byte equal (consistent with ``matches(_:)``).
    public static func == (lhs: TopicSelector, rhs: TopicSelector) -> Bool {
        lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8)
    }

    /// Hashes the raw text's UTF-8 bytes, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(rawValue.utf8.count)
        for byte in rawValue.utf8 {
            hasher.combine(byte)
        }
    }
}

/// Why a topic selector or URI template was rejected.
///
/// The reason is short and human readable so it can be sent as-is in an HTTP 400 response body.
public struct TopicSelectorError: Error, Hashable, CustomStringConvertible {
    /// A short explanation, such as "unclosed '{' at offset 12".
    public let reason: String

    /// Creates an error with a short human-readable reason.
    public init(reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String {
        reason
    }
}
