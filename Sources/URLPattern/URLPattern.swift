/// A WHATWG URL Pattern (https://urlpattern.spec.whatwg.org), compiled once, matched in linear time.
///
/// `URLPattern("https://example.com/books/:id")` splits the constructor string into the eight URL
/// components (protocol, username, password, hostname, port, pathname, search, hash), parses each
/// component's pattern (fixed text, named groups `:id`, wildcards `*`, modifiers `?` `+` `*`,
/// `{…}` groups and regexp groups `(…)`), and compiles it to a small automaton. Matching a URL
/// parses it like a browser would (scheme, authority, path normalisation, percent-encoding) and
/// runs each component's automaton over it: O(input length × automaton states), never
/// backtracking, so a hostile pattern such as `/(a+)+b` costs the same as any other of its size.
/// Regexp features a linear-time matcher cannot offer (backreferences, lookaround) are refused.
///
/// Matching is case-sensitive (`ignoreCase` is not supported), as Mercure requires.
public struct URLPattern: Sendable, Hashable, CustomStringConvertible {
    /// The eight components of a URL, in URL order.
    public enum Component: String, Sendable, Hashable, CaseIterable {
        case `protocol`, username, password, hostname, port, pathname, search, hash
    }

    /// The constructor string exactly as given.
    public let rawValue: String
    /// The base URL relative patterns were resolved against, if any.
    public let baseURL: String?
    let components: [CompiledComponent]

    /// Parses and compiles `pattern`; a relative pattern (`/books/:id`) needs `baseURL`.
    ///
    /// Throws ``URLPatternError`` with a short reason for a malformed pattern (unbalanced `{` or
    /// `(`, a duplicate group name, a regexp group the standard forbids or this matcher does not
    /// support, a relative pattern without base URL) or one over ``maxStates``.
    public init(_ pattern: String, baseURL: String? = nil) throws(URLPatternError) {
        let components = try ConstructorStringParser.parse(pattern)
        guard baseURL != nil || components[.protocol] != nil else {
            throw URLPatternError(reason: "a relative URL pattern needs a base URL")
        }
        try self.init(components, rawValue: pattern, baseURL: baseURL)
    }

    /// A pattern given per component (the standard's `URLPatternInit`); components left out
    /// come from `baseURL` when given (as the standard says which), else match anything (`*`).
    public init(components: [Component: String], baseURL: String? = nil) throws(URLPatternError) {
        var components = components
        if let value = components[.protocol], value.hasSuffix(":") { components[.protocol] = String(value.dropLast()) }
        if let value = components[.search], value.hasPrefix("?") { components[.search] = String(value.dropFirst()) }
        if let value = components[.hash], value.hasPrefix("#") { components[.hash] = String(value.dropFirst()) }
        let text = Component.allCases.compactMap { component in
            components[component].map { "\(component.rawValue)=\($0)" }
        }
        try self.init(components, rawValue: text.joined(separator: " "), baseURL: baseURL)
    }

    /// Most automaton states one pattern may compile to, over its eight components (their fixed
    /// leading text excluded: it is compared directly). One match costs O(input length × states).
    public static let maxStates = 4096

    /// The automaton states this pattern compiled to (fixed leading text excluded); a match
    /// costs O(input length × this).
    public var matchingStates: Int {
        components.reduce(0) { $0 + $1.program.stateCount }
    }

    /// The normalized pattern of one component, as the standard's `URLPattern` getters show it.
    public func pattern(of component: Component) -> String {
        components[component.index].patternString
    }

    /// Whether `input` (a URL, resolved against `baseURL` when relative) matches. An input that
    /// is not a URL (or a relative one without base) matches nothing.
    public func test(_ input: String, baseURL: String? = nil) -> Bool {
        guard let url = ParsedURL(input, baseURL: baseURL) else { return false }
        return test(url)
    }

    /// Whether a URL given per component matches (components left out are taken from
    /// `baseURL` as the standard says, else empty); false when a component is invalid.
    public func test(components input: [Component: String], baseURL: String? = nil) -> Bool {
        guard let url = ParsedURL(components: input, baseURL: baseURL) else { return false }
        return test(url)
    }

    private func test(_ url: ParsedURL) -> Bool {
        for component in components {
            var text = Array(url[component.component].unicodeScalars)
            if !component.program.matches(&text) { return false }
        }
        return true
    }

    /// The match of `input` with each component's groups, or nil when it does not match.
    public func exec(_ input: String, baseURL: String? = nil) -> URLPatternResult? {
        guard let url = ParsedURL(input, baseURL: baseURL) else { return nil }
        return exec(url)
    }

    /// The match of a URL given per component (like ``test(components:baseURL:)``), or nil.
    public func exec(components input: [Component: String], baseURL: String? = nil) -> URLPatternResult? {
        guard let url = ParsedURL(components: input, baseURL: baseURL) else { return nil }
        return exec(url)
    }

    private func exec(_ url: ParsedURL) -> URLPatternResult? {
        var results: [Component: URLPatternResult.ComponentResult] = [:]
        for component in components {
            let text = url[component.component]
            guard let captures = component.program.captures(text) else { return nil }
            var groups: [(name: String, value: String?)] = []
            for (index, name) in component.groupNames.enumerated() {
                groups.append((name, captures[index]))
            }
            results[component.component] = URLPatternResult.ComponentResult(input: text, groups: groups)
        }
        return URLPatternResult(components: results)
    }

    /// The constructor string.
    public var description: String { rawValue }

    /// Patterns are equal when their constructor strings and base URLs are equal.
    public static func == (lhs: URLPattern, rhs: URLPattern) -> Bool {
        lhs.rawValue == rhs.rawValue && lhs.baseURL == rhs.baseURL
    }

    /// Hashes the constructor string and base URL, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(rawValue)
        hasher.combine(baseURL)
    }
}

/// What ``URLPattern/exec(_:baseURL:)`` found: each component's input and groups.
public struct URLPatternResult: Sendable {
    /// One component's matched text and groups (in pattern order; unnamed groups are "0", "1", …).
    public struct ComponentResult: Sendable {
        /// The component of the input URL that was matched.
        public let input: String
        /// The groups in pattern order; nil for an optional group that matched nothing.
        public let groups: [(name: String, value: String?)]

        /// The value of the group named `name` (nil when absent or unmatched).
        public subscript(name: String) -> String? {
            groups.first { $0.name == name }?.value ?? nil
        }
    }

    /// The result per component.
    public let components: [URLPattern.Component: ComponentResult]

    /// The result for `component`.
    public subscript(component: URLPattern.Component) -> ComponentResult {
        components[component]!
    }
}

/// Why a URL pattern was refused; the reason is short enough for an HTTP 400 body.
public struct URLPatternError: Error, Hashable, CustomStringConvertible {
    /// A short explanation, such as "unbalanced '(' at offset 12".
    public let reason: String

    /// Creates an error with a short human-readable reason.
    public init(reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}

extension URLPattern.Component {
    var index: Int {
        switch self {
        case .protocol: 0
        case .username: 1
        case .password: 2
        case .hostname: 3
        case .port: 4
        case .pathname: 5
        case .search: 6
        case .hash: 7
        }
    }
}
