import URLPattern

/// A Mercure topic selector: "*" (every topic), an exact topic, an RFC 6570 URI template (0.x) or
/// a WHATWG URL Pattern (1.0), matched against topics.
///
/// Subscribers name the topics they want with selectors, and publishers' updates are routed to a
/// subscriber when one of its selectors matches one of the update's topics. Selectors are
/// validated once, when created, so matching never fails.
///
/// How the text is read depends on where it came from: ``init(_:)`` is Mercure 0.x's `topic=`
/// ("*", an exact topic, or a template when it has braces); ``init(exact:maxLength:)`` is 1.0's
/// `match=` (always the exact string); ``init(urlPattern:baseURL:maxLength:)`` is 1.0's
/// `match_urlpattern=`. The ``kind`` is part of the selector's identity: the exact selector
/// `a{b}` and the template `a{b}` are different selectors.
public struct TopicSelector: Sendable, Hashable, CustomStringConvertible {
    /// What a selector is, which decides how it matches.
    public enum Kind: Sendable, Hashable {
        /// "*" from a 0.x `topic=`: every topic.
        case wildcard
        /// The topic compared byte for byte (a 0.x `topic=` without braces, or any 1.0 `match=`).
        case exact
        /// An RFC 6570 URI template (0.x `topic=` with expressions).
        case template
        /// A WHATWG URL Pattern (1.0 `match_urlpattern=`).
        case urlPattern
    }

    /// How a selector's text is to be read, after the query parameter that carried it.
    public enum Syntax: Sendable, Hashable {
        /// Mercure 0.x `topic=`: "*", an exact topic, or an RFC 6570 template when it has braces.
        case topic
        /// Mercure 1.0 `match=` / `match_exact=`: the exact string, never a template, "*" included.
        case exact
        /// Mercure 1.0 `match_urlpattern=`: a WHATWG URL Pattern.
        case urlPattern
    }

    /// The longest selector accepted by default, in UTF-8 bytes; bounds the cost of compiling
    /// and matching it (a hub applies its own `HubConfiguration.maxTopicLength`).
    public static let maximumLength = 2048

    /// The selector that matches every topic ("*").
    public static let wildcard = TopicSelector(validated: "*", kind: .wildcard)

    /// The selector exactly as the client sent it.
    public let rawValue: String

    /// What the selector is.
    public let kind: Kind

    /// The compiled template of a ``Kind/template`` selector; nil for other kinds.
    public var template: URITemplate? {
        if case .template(let template) = compiled { template } else { nil }
    }

    /// The compiled pattern of a ``Kind/urlPattern`` selector; nil for other kinds.
    public var urlPattern: URLPattern? {
        if case .urlPattern(let pattern) = compiled { pattern } else { nil }
    }

    /// A compiled matcher, boxed (`indirect`): inline, the two would make every selector, and
    /// so every subscriber's selector array, ~100 bytes larger, though most selectors are
    /// exact topics with nothing compiled.
    private indirect enum Compiled: Sendable {
        case template(URITemplate)
        case urlPattern(URLPattern)
    }

    /// Nil for "*" and exact selectors.
    private let compiled: Compiled?

    /// Validates `rawValue` as a Mercure 0.x `topic=` selector and compiles it when it contains a
    /// template expression.
    ///
    /// Throws for an empty selector, one longer than ``maximumLength`` UTF-8 bytes, one whose
    /// braces do not form a valid RFC 6570 template (a stray "}", an unclosed "{", "{}", …), and a
    /// template more complex than ``maxExpressions``, ``maxVariables`` or ``maxMatchingStates`` allow.
    public init(_ rawValue: String) throws(TopicSelectorError) {
        try self.init(rawValue, maxLength: Self.maximumLength)
    }

    /// Validates `rawValue` (at most `maxLength` UTF-8 bytes) as a 0.x `topic=` selector and
    /// compiles it when it contains a template expression; throws like ``init(_:)``.
    public init(_ rawValue: String, maxLength: Int) throws(TopicSelectorError) {
        try Self.checkLength(rawValue, maxLength: maxLength)
        if rawValue == "*" {
            self = .wildcard
            return
        }
        if Self.hasBraces(rawValue) {
            let compiled = try URITemplate(rawValue)
            try Self.checkComplexity(compiled)
            if compiled.isLiteral {
                self.init(validated: rawValue, kind: .exact)
            } else {
                self.init(validated: rawValue, kind: .template, template: compiled)
            }
        } else {
            self.init(validated: rawValue, kind: .exact)
        }
    }

    /// A Mercure 1.0 exact selector (`match=`): matches the topic byte-for-byte equal to `exact`,
    /// nothing else. Braces and "*" are ordinary characters here.
    ///
    /// Throws for an empty string or one longer than `maxLength` UTF-8 bytes.
    public init(exact: String, maxLength: Int = TopicSelector.maximumLength) throws(TopicSelectorError) {
        try Self.checkLength(exact, maxLength: maxLength)
        self.init(validated: exact, kind: .exact)
    }

    /// A Mercure 1.0 URL Pattern selector (`match_urlpattern=`): matches a topic the WHATWG URL
    /// Pattern accepts as a URL. A relative pattern (`/books/:id`) is resolved against `baseURL`
    /// (the hub's public URL), and is refused without one.
    ///
    /// Throws for an empty string, one longer than `maxLength` UTF-8 bytes, an invalid pattern,
    /// a regexp group this matcher cannot run in linear time (backreferences, lookaround), and a
    /// pattern over ``maxMatchingStates`` automaton states.
    public init(
        urlPattern: String,
        baseURL: String? = nil,
        maxLength: Int = TopicSelector.maximumLength
    ) throws(TopicSelectorError) {
        try Self.checkLength(urlPattern, maxLength: maxLength)
        let compiled: URLPattern
        do {
            compiled = try URLPattern(urlPattern, baseURL: baseURL)
        } catch {
            throw TopicSelectorError(reason: "invalid URL pattern: \(error.reason)")
        }
        if compiled.matchingStates > Self.maxMatchingStates {
            throw TopicSelectorError(
                reason: "URL pattern too complex (more than \(Self.maxMatchingStates) matching states)"
            )
        }
        self.init(validated: urlPattern, kind: .urlPattern, urlPattern: compiled)
    }

    /// Reads `text` as `syntax` says (the parameter that carried it); throws like that initializer.
    public init(
        _ text: String,
        syntax: Syntax,
        baseURL: String? = nil,
        maxLength: Int = TopicSelector.maximumLength
    ) throws(TopicSelectorError) {
        switch syntax {
        case .topic: try self.init(text, maxLength: maxLength)
        case .exact: try self.init(exact: text, maxLength: maxLength)
        case .urlPattern: try self.init(urlPattern: text, baseURL: baseURL, maxLength: maxLength)
        }
    }

    private static func checkLength(_ text: String, maxLength: Int) throws(TopicSelectorError) {
        let length = text.utf8.count
        if length == 0 {
            throw TopicSelectorError(reason: "topic selector is empty")
        }
        if length > maxLength {
            throw TopicSelectorError(reason: "topic selector is longer than \(maxLength) bytes")
        }
    }

    static func hasBraces(_ text: String) -> Bool {
        text.utf8.contains { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }
    }

    /// The kind `text` gets when read as `syntax`, known without compiling it (a 0.x text with
    /// braces but no expression turns out exact once compiled).
    static func probableKind(of text: String, syntax: Syntax) -> Kind {
        switch syntax {
        case .exact: .exact
        case .urlPattern: .urlPattern
        case .topic: text == "*" ? .wildcard : (hasBraces(text) ? .template : .exact)
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
    /// Most automaton states (``URITemplate/matchingStates``, `URLPattern.matchingStates`) a
    /// template or URL Pattern selector may have. Bounds one match to O(topic length × 256)
    /// steps and a compiled selector to a few KiB.
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

    private init(validated rawValue: String, kind: Kind, template: URITemplate? = nil, urlPattern: URLPattern? = nil) {
        self.rawValue = rawValue
        self.kind = kind
        if let template {
            self.compiled = .template(template)
        } else {
            self.compiled = urlPattern.map { .urlPattern($0) }
        }
    }

    /// Whether this is the 0.x "*", which matches every topic.
    public var isWildcard: Bool {
        kind == .wildcard
    }

    /// Whether the selector is an RFC 6570 template with at least one expression.
    public var isTemplate: Bool {
        kind == .template
    }

    /// Whether the selector can match topics other than its own text ("*", templates, URL
    /// patterns), so a hub must run it against every topic rather than look the topic up.
    public var isPattern: Bool {
        kind != .exact
    }

    /// Automaton states one match runs (0 for "*" and exact selectors); a match costs
    /// O(topic length × this).
    public var matchingStates: Int {
        switch compiled {
        case .template(let template): template.matchingStates
        case .urlPattern(let pattern): pattern.matchingStates
        case nil: 0
        }
    }

    /// Whether an update published to `topic` is selected.
    ///
    /// "*" matches everything; an exact selector matches the byte-for-byte equal topic; a
    /// template also matches its own text (as Mercure 0.x requires) and its expansions; a URL
    /// pattern matches topics it accepts as URLs (a relative topic resolved against the base
    /// the pattern was compiled with, if any). Comparison is on UTF-8 bytes, not Unicode
    /// canonical equivalence, as topics are identifiers.
    public func matches(_ topic: String) -> Bool {
        switch kind {
        case .wildcard: return true
        case .exact: return rawValue.utf8.elementsEqual(topic.utf8)
        case .template:
            if rawValue.utf8.elementsEqual(topic.utf8) { return true }
            if case .template(let template) = compiled { return template.matches(topic) }
            return false
        case .urlPattern:
            // A relative topic (the hub's own subscription events) is resolved against the
            // hub's URL the pattern was compiled with, as Mercure 1.0 requires.
            if case .urlPattern(let pattern) = compiled { return pattern.test(topic, baseURL: pattern.baseURL) }
            return false
        }
    }

    /// The raw selector.
    public var description: String {
        rawValue
    }

    /// Selectors are equal when their kinds are and their raw texts are byte-for-byte equal.
    public static func == (lhs: TopicSelector, rhs: TopicSelector) -> Bool {
        lhs.kind == rhs.kind && lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8)
            && lhs.urlPattern?.baseURL == rhs.urlPattern?.baseURL
    }

    /// Hashes the kind and the raw text's UTF-8 bytes, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
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
