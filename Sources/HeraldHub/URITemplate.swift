/// RFC 6570 URI template (levels 1–4) that can tell whether a string is one of its expansions.
///
/// Mercure topic selectors use templates such as `https://example.com/books/{id}` to select many
/// topics at once. The template is parsed and validated once, then compiled into a small automaton
/// that matches in time linear in the string length (no backtracking blow-up on hostile input).
///
/// Matching is anchored (the whole string must be an expansion) and follows what Mercure hubs do:
/// - literals match themselves byte for byte;
/// - values are unreserved characters (`ALPHA DIGIT - . _ ~`) or pct-encoded triplets `%XX`;
///   `{+var}` and `{#var}` also allow the reserved characters `:/?#[]@!$&'()*+,;=`;
/// - every variable may be undefined, so it (with its operator prefix and separator) may be absent;
/// - `{var:N}` takes at most N characters (a pct-encoded UTF-8 sequence counts as one character);
/// - `{var*}` (explode) takes a list joined by the operator's separator, or `key=value` pairs;
/// - a variable without modifiers may hold a comma-separated list, as lists expand that way.
/// Each occurrence of a variable is matched independently: `{x}/{x}` matches `a/b`.
public struct URITemplate: Sendable, Hashable, CustomStringConvertible {
    /// The template text exactly as given.
    public let rawValue: String

    /// The parsed template, in order.
    let parts: [Part]

    /// The automaton used to match strings against the template.
    let program: URITemplateProgram

    /// Parses and compiles `template`.
    ///
    /// Throws for a stray "}", an unclosed "{", nested braces, an empty expression, a reserved
    /// operator (`= , ! @ |`), an invalid variable name, or an invalid modifier (`:0`, `:10000`, `*:3`…).
    /// Literal text is otherwise accepted as is, so IRIs with non-ASCII characters can be templates.
    public init(_ template: String) throws(TopicSelectorError) {
        let parts = try Self.parse(Array(template.utf8))
        self.rawValue = template
        self.parts = parts
        self.program = URITemplateProgram(compiling: parts)
    }

    /// How many `{…}` expressions the template has.
    public var expressionCount: Int {
        parts.reduce(0) { count, part in if case .expression = part { count + 1 } else { count } }
    }

    /// How many variable references the template has, over all its expressions.
    public var variableCount: Int {
        parts.reduce(0) { count, part in if case .expression(_, let variables) = part { count + variables.count } else { count } }
    }

    /// The size of the matching automaton: states between the leading and trailing literal text
    /// (which are compared directly). One match costs O(string length × this).
    public var matchingStates: Int {
        program.stateCount
    }

    /// Whether the template has no expression, so it matches only its own text.
    public var isLiteral: Bool {
        !parts.contains { if case .expression = $0 { true } else { false } }
    }

    /// The names of the template's variables, each once, in order of first appearance.
    public var variableNames: [String] {
        var seen = Set<String>()
        var names: [String] = []
        for case .expression(_, let variables) in parts {
            for variable in variables where seen.insert(variable.name).inserted {
                names.append(variable.name)
            }
        }
        return names
    }

    /// The template text.
    public var description: String {
        rawValue
    }

    /// Templates are equal when their texts are byte-for-byte equal.
    public static func == (lhs: URITemplate, rhs: URITemplate) -> Bool {
        lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8)
    }

    /// Hashes the template text's UTF-8 bytes, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(rawValue.utf8.count)
        for byte in rawValue.utf8 {
            hasher.combine(byte)
        }
    }
}

// MARK: - Syntax tree

extension URITemplate {
    /// One piece of a template: literal text or a `{…}` expression.
    enum Part: Sendable, Hashable {
        case literal([UInt8])
        case expression(Operator, [Variable])
    }

    /// A variable reference inside an expression, with its modifier.
    struct Variable: Sendable, Hashable {
        /// The name as written (pct-encoded triplets kept).
        var name: String
        /// The prefix length of `{name:N}`, if any.
        var maxLength: Int?
        /// Whether the explode modifier `{name*}` is present.
        var explode: Bool
    }

    /// An expression operator, which decides prefix, separator, naming and allowed characters.
    enum Operator: UInt8, Sendable, Hashable {
        case simple = 0
        case reserved = 0x2B  // +
        case fragment = 0x23  // #
        case label = 0x2E  // .
        case pathSegment = 0x2F  // /
        case pathParameter = 0x3B  // ;
        case query = 0x3F  // ?
        case queryContinuation = 0x26  // &

        /// The text written before the first defined variable, if any.
        var first: UInt8? {
            switch self {
            case .simple, .reserved: nil
            default: rawValue
            }
        }

        /// The text written between defined variables (and between exploded items).
        var separator: UInt8 {
            switch self {
            case .simple, .reserved, .fragment: UInt8(ascii: ",")
            case .label: UInt8(ascii: ".")
            case .pathSegment: UInt8(ascii: "/")
            case .pathParameter: UInt8(ascii: ";")
            case .query, .queryContinuation: UInt8(ascii: "&")
            }
        }

        /// Whether values are written as `name=value`.
        var isNamed: Bool {
            self == .pathParameter || self == .query || self == .queryContinuation
        }

        /// Whether reserved characters may appear unencoded in values.
        var allowsReserved: Bool {
            self == .reserved || self == .fragment
        }
    }
}

// MARK: - Parsing

extension URITemplate {
    private static let openBrace = UInt8(ascii: "{")
    private static let closeBrace = UInt8(ascii: "}")

    /// Splits the template into literals and parsed expressions, or throws why it is malformed.
    static func parse(_ bytes: [UInt8]) throws(TopicSelectorError) -> [Part] {
        var parts: [Part] = []
        var literal: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == closeBrace {
                throw TopicSelectorError(reason: "unexpected '}' at offset \(index)")
            }
            guard byte == openBrace else {
                literal.append(byte)
                index += 1
                continue
            }
            var end = index + 1
            while end < bytes.count, bytes[end] != closeBrace {
                if bytes[end] == openBrace {
                    throw TopicSelectorError(reason: "nested '{' at offset \(end)")
                }
                end += 1
            }
            if end == bytes.count {
                throw TopicSelectorError(reason: "unclosed '{' at offset \(index)")
            }
            if !literal.isEmpty {
                parts.append(.literal(literal))
                literal = []
            }
            parts.append(try parseExpression(bytes[(index + 1)..<end], offset: index))
            index = end + 1
        }
        if !literal.isEmpty {
            parts.append(.literal(literal))
        }
        return parts
    }

    /// Parses the inside of one `{…}`; `offset` is where its "{" is, for error messages.
    private static func parseExpression(
        _ body: ArraySlice<UInt8>,
        offset: Int
    ) throws(TopicSelectorError) -> Part {
        guard let head = body.first else {
            throw TopicSelectorError(reason: "empty expression '{}' at offset \(offset)")
        }
        var rest = body
        let op: Operator
        if let known = Operator(rawValue: head), known != .simple {
            op = known
            rest = body.dropFirst()
        } else if "=,!@|".utf8.contains(head) {
            throw TopicSelectorError(
                reason: "reserved operator '\(Character(Unicode.Scalar(head)))' at offset \(offset)"
            )
        } else {
            op = .simple
        }
        if rest.isEmpty {
            throw TopicSelectorError(reason: "expression without variable at offset \(offset)")
        }
        var variables: [Variable] = []
        for spec in rest.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            variables.append(try parseVariable(spec, offset: offset))
        }
        return .expression(op, variables)
    }

    /// Parses `varname [ ":" max-length / "*" ]`.
    private static func parseVariable(
        _ spec: ArraySlice<UInt8>,
        offset: Int
    ) throws(TopicSelectorError) -> Variable {
        let text = String(decoding: spec, as: UTF8.self)
        if spec.isEmpty {
            throw TopicSelectorError(reason: "empty variable name at offset \(offset)")
        }
        var index = spec.startIndex
        // varname = varchar *( ["."] varchar ); varchar = ALPHA / DIGIT / "_" / pct-encoded
        var expectsVarchar = true
        while index < spec.endIndex {
            let byte = spec[index]
            if isVarchar(byte) {
                index += 1
                expectsVarchar = false
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < spec.endIndex, spec[index + 1].asciiHexValue != nil, spec[index + 2].asciiHexValue != nil
                else {
                    throw TopicSelectorError(reason: "invalid variable name '\(text)' at offset \(offset)")
                }
                index += 3
                expectsVarchar = false
            } else if byte == UInt8(ascii: "."), !expectsVarchar {
                index += 1
                expectsVarchar = true
            } else {
                break
            }
        }
        let name = spec[spec.startIndex..<index]
        if name.isEmpty || expectsVarchar {
            throw TopicSelectorError(reason: "invalid variable name '\(text)' at offset \(offset)")
        }
        let modifier = spec[index...]
        var variable = Variable(name: String(decoding: name, as: UTF8.self), maxLength: nil, explode: false)
        guard let marker = modifier.first else { return variable }
        if marker == UInt8(ascii: "*"), modifier.count == 1 {
            variable.explode = true
            return variable
        }
        // max-length = %x31-39 0*3DIGIT
        let digits = modifier.dropFirst()
        guard marker == UInt8(ascii: ":"),
            (1...4).contains(digits.count),
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            digits.first != UInt8(ascii: "0")
        else {
            let reason =
                marker == UInt8(ascii: ":") || marker == UInt8(ascii: "*")
                ? "invalid modifier in '\(text)' at offset \(offset)"
                : "invalid variable name '\(text)' at offset \(offset)"
            throw TopicSelectorError(reason: reason)
        }
        variable.maxLength = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return variable
    }

    private static func isVarchar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
