/// The standard's tokenizer ("tokenize") for pattern strings.
struct PatternToken: Sendable {
    enum Kind: Sendable, Equatable {
        case open, close, regexp, name, char, escapedChar, otherModifier, asterisk, end, invalidChar
    }

    var kind: Kind
    /// Offset (in scalars) in the input where the token starts.
    var index: Int
    var value: String
}

enum TokenizePolicy {
    case strict, lenient
}

enum PatternTokenizer {
    static func tokenize(_ input: [Unicode.Scalar], policy: TokenizePolicy) throws(URLPatternError) -> [PatternToken] {
        var tokens: [PatternToken] = []
        var index = 0

        func fail(_ reason: String, at start: Int) throws(URLPatternError) {
            if policy == .strict { throw URLPatternError(reason: "\(reason) at offset \(start)") }
            tokens.append(PatternToken(kind: .invalidChar, index: start, value: String(input[start])))
            index = start + 1
        }

        while index < input.count {
            let scalar = input[index]
            let start = index
            switch scalar {
            case "*":
                tokens.append(PatternToken(kind: .asterisk, index: start, value: "*"))
                index += 1
            case "+", "?":
                tokens.append(PatternToken(kind: .otherModifier, index: start, value: String(scalar)))
                index += 1
            case "\\":
                guard index + 1 < input.count else {
                    try fail("'\\' at the end of the pattern", at: start)
                    continue
                }
                tokens.append(PatternToken(kind: .escapedChar, index: start, value: String(input[index + 1])))
                index += 2
            case "{":
                tokens.append(PatternToken(kind: .open, index: start, value: "{"))
                index += 1
            case "}":
                tokens.append(PatternToken(kind: .close, index: start, value: "}"))
                index += 1
            case ":":
                var end = index + 1
                while end < input.count, isNameCodePoint(input[end], first: end == index + 1) { end += 1 }
                guard end > index + 1 else {
                    try fail("missing group name after ':'", at: start)
                    continue
                }
                tokens.append(PatternToken(kind: .name, index: start, value: string(input[(index + 1)..<end])))
                index = end
            case "(":
                var depth = 1
                var position = index + 1
                var failure: String?
                while position < input.count {
                    let current = input[position]
                    if !current.isASCII {
                        failure = "non-ASCII character in a regexp group"
                        break
                    }
                    if position == index + 1, current == "?" {
                        failure = "a regexp group must not start with '?'"
                        break
                    }
                    if current == "\\" {
                        guard position + 1 < input.count, input[position + 1].isASCII else {
                            failure = "bad escape in a regexp group"
                            break
                        }
                        position += 2
                        continue
                    }
                    if current == ")" {
                        depth -= 1
                        if depth == 0 {
                            position += 1
                            break
                        }
                    } else if current == "(" {
                        depth += 1
                        guard position + 1 < input.count, input[position + 1] == "?" else {
                            failure = "capturing groups are not allowed inside a regexp group"
                            break
                        }
                    }
                    position += 1
                }
                if failure == nil, depth != 0 { failure = "unbalanced '('" }
                if failure == nil, position - index - 2 <= 0 { failure = "empty regexp group" }
                if let failure {
                    try fail(failure, at: start)
                    continue
                }
                tokens.append(PatternToken(kind: .regexp, index: start, value: string(input[(index + 1)..<(position - 1)])))
                index = position
            default:
                tokens.append(PatternToken(kind: .char, index: start, value: String(scalar)))
                index += 1
            }
        }
        tokens.append(PatternToken(kind: .end, index: input.count, value: ""))
        return tokens
    }

    static func isNameCodePoint(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        if scalar == "$" || scalar == "_" { return true }
        if first { return scalar.properties.isIDStart }
        return scalar.properties.isIDContinue || scalar == "\u{200C}" || scalar == "\u{200D}"
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}

/// One part of a parsed component pattern (the standard's "part").
struct PatternPart: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case fixedText, regexp, segmentWildcard, fullWildcard
    }

    enum Modifier: String, Sendable, Hashable {
        case none = "", optional = "?", zeroOrMore = "*", oneOrMore = "+"
    }

    var kind: Kind
    var value: String
    var modifier: Modifier
    var name = ""
    var prefix = ""
    var suffix = ""
}

/// Per-component options: the delimiter of `:name` segments and the prefix code point.
struct PatternOptions: Sendable {
    var delimiter: Unicode.Scalar?
    var prefix: Unicode.Scalar?

    static let `default` = PatternOptions(delimiter: nil, prefix: nil)
    static let hostname = PatternOptions(delimiter: ".", prefix: nil)
    static let pathname = PatternOptions(delimiter: "/", prefix: "/")

    /// The standard's segment wildcard regexp, as its text (to recognise it in regexp groups).
    var segmentWildcardText: String {
        guard let delimiter else { return "[^]+?" }
        return "[^" + escapeRegexpString(String(delimiter)) + "]+?"
    }

    var segmentWildcardNode: RegexNode {
        let excluded: [ClosedRange<UInt32>] = delimiter.map { [$0.value...$0.value] } ?? []
        return .repetition(.set(.of(excluded, negated: true)), min: 1, max: nil, greedy: false)
    }
}

/// The standard's "parse a pattern string": tokens to parts.
struct PatternParser {
    private let tokens: [PatternToken]
    private let options: PatternOptions
    private let encode: Canonical
    private var parts: [PatternPart] = []
    private var pendingFixedValue = ""
    private var index = 0
    private var nextNumericName = 0

    static func parse(
        _ input: String,
        options: PatternOptions,
        encode: Canonical
    ) throws(URLPatternError) -> [PatternPart] {
        let tokens = try PatternTokenizer.tokenize(Array(input.unicodeScalars), policy: .strict)
        var parser = PatternParser(tokens: tokens, options: options, encode: encode)
        try parser.run()
        return parser.parts
    }

    private init(tokens: [PatternToken], options: PatternOptions, encode: Canonical) {
        self.tokens = tokens
        self.options = options
        self.encode = encode
    }

    private mutating func tryConsume(_ kind: PatternToken.Kind) -> PatternToken? {
        let token = tokens[index]
        guard token.kind == kind else { return nil }
        index += 1
        return token
    }

    private mutating func tryConsumeModifier() -> PatternToken? {
        tryConsume(.otherModifier) ?? tryConsume(.asterisk)
    }

    private mutating func tryConsumeRegexpOrWildcard(hasName: Bool) -> PatternToken? {
        let token = tryConsume(.regexp)
        if token == nil, !hasName { return tryConsume(.asterisk) }
        return token
    }

    private mutating func consumeText() -> String {
        var result = ""
        while true {
            guard let token = tryConsume(.char) ?? tryConsume(.escapedChar) else { break }
            result += token.value
        }
        return result
    }

    private mutating func consumeRequired(_ kind: PatternToken.Kind) throws(URLPatternError) {
        guard tryConsume(kind) != nil else {
            let token = tokens[index]
            let what = kind == .close ? "missing '}'" : "unexpected '\(token.value)'"
            throw URLPatternError(reason: "\(what) at offset \(token.index)")
        }
    }

    private mutating func run() throws(URLPatternError) {
        while index < tokens.count {
            let charToken = tryConsume(.char)
            let nameToken = tryConsume(.name)
            let regexpOrWildcard = tryConsumeRegexpOrWildcard(hasName: nameToken != nil)
            if nameToken != nil || regexpOrWildcard != nil {
                var prefix = charToken?.value ?? ""
                if let optionsPrefix = options.prefix, prefix == String(optionsPrefix) {
                    // kept as the part's prefix
                } else {
                    pendingFixedValue += prefix
                    prefix = ""
                }
                try flushPendingFixedValue()
                let modifier = tryConsumeModifier()
                try addPart(prefix: prefix, name: nameToken, regexp: regexpOrWildcard, suffix: "", modifier: modifier)
                continue
            }
            if let fixed = charToken ?? tryConsume(.escapedChar) {
                pendingFixedValue += fixed.value
                continue
            }
            if tryConsume(.open) != nil {
                let prefix = consumeText()
                let name = tryConsume(.name)
                let regexp = tryConsumeRegexpOrWildcard(hasName: name != nil)
                let suffix = consumeText()
                try consumeRequired(.close)
                let modifier = tryConsumeModifier()
                try addPart(prefix: prefix, name: name, regexp: regexp, suffix: suffix, modifier: modifier)
                continue
            }
            try flushPendingFixedValue()
            try consumeRequired(.end)
        }
    }

    private mutating func flushPendingFixedValue() throws(URLPatternError) {
        guard !pendingFixedValue.isEmpty else { return }
        let encoded = try encode.apply(pendingFixedValue)
        pendingFixedValue = ""
        parts.append(PatternPart(kind: .fixedText, value: encoded, modifier: .none))
    }

    private mutating func addPart(
        prefix: String,
        name: PatternToken?,
        regexp: PatternToken?,
        suffix: String,
        modifier modifierToken: PatternToken?
    ) throws(URLPatternError) {
        let modifier = modifierToken.flatMap { PatternPart.Modifier(rawValue: $0.value) } ?? .none
        if name == nil, regexp == nil, modifier == .none {
            pendingFixedValue += prefix
            return
        }
        try flushPendingFixedValue()
        if name == nil, regexp == nil {
            guard !prefix.isEmpty else { return }
            parts.append(PatternPart(kind: .fixedText, value: try encode.apply(prefix), modifier: modifier))
            return
        }
        var regexpValue: String
        if let regexp {
            regexpValue = regexp.kind == .asterisk ? ".*" : regexp.value
        } else {
            regexpValue = options.segmentWildcardText
        }
        var kind = PatternPart.Kind.regexp
        if regexpValue == options.segmentWildcardText {
            kind = .segmentWildcard
            regexpValue = ""
        } else if regexpValue == ".*" {
            kind = .fullWildcard
            regexpValue = ""
        }
        let partName: String
        if let name {
            partName = name.value
        } else {
            partName = String(nextNumericName)
            nextNumericName += 1
        }
        if parts.contains(where: { $0.name == partName && $0.kind != .fixedText }) {
            throw URLPatternError(reason: "duplicate group name '\(partName)'")
        }
        parts.append(
            PatternPart(
                kind: kind, value: regexpValue, modifier: modifier, name: partName,
                prefix: try encode.apply(prefix), suffix: try encode.apply(suffix)
            )
        )
    }
}

/// The standard's "escape a regexp string".
func escapeRegexpString(_ input: String) -> String {
    var result = ""
    for scalar in input.unicodeScalars {
        if ".+*?^${}()[]|/\\".unicodeScalars.contains(scalar) { result.unicodeScalars.append("\\") }
        result.unicodeScalars.append(scalar)
    }
    return result
}

/// The standard's "escape a pattern string".
func escapePatternString(_ input: String) -> String {
    var result = ""
    for scalar in input.unicodeScalars {
        if "+*?:{}()\\".unicodeScalars.contains(scalar) { result.unicodeScalars.append("\\") }
        result.unicodeScalars.append(scalar)
    }
    return result
}

/// The standard's "generate a regular expression and name list", built as a tree rather than
/// text, so user regexps are parsed once and nothing is re-escaped.
func generateRegex(_ parts: [PatternPart], options: PatternOptions) throws(URLPatternError) -> (RegexNode, [String]) {
    var items: [RegexNode] = []
    var names: [String] = []
    for part in parts {
        if part.kind == .fixedText {
            let literal = RegexNode.literal(part.value.unicodeScalars)
            if part.modifier == .none {
                if case .concat(let scalars) = literal { items.append(contentsOf: scalars) }
            } else {
                items.append(applyModifier(.group(literal, capture: nil), part.modifier))
            }
            continue
        }
        let capture = names.count
        names.append(part.name)
        let value: RegexNode
        switch part.kind {
        case .segmentWildcard: value = options.segmentWildcardNode
        case .fullWildcard: value = .repetition(.set(.dot), min: 0, max: nil, greedy: true)
        default: value = try RegexParser.parse(part.value)
        }
        let prefix = RegexNode.literal(part.prefix.unicodeScalars)
        let suffix = RegexNode.literal(part.suffix.unicodeScalars)
        if part.prefix.isEmpty, part.suffix.isEmpty {
            if part.modifier == .none || part.modifier == .optional {
                items.append(applyModifier(.group(value, capture: capture), part.modifier))
            } else {
                items.append(.group(applyModifier(.group(value, capture: nil), part.modifier), capture: capture))
            }
            continue
        }
        if part.modifier == .none || part.modifier == .optional {
            items.append(applyModifier(.group(.concat([prefix, .group(value, capture: capture), suffix]), capture: nil), part.modifier))
            continue
        }
        // prefix((?:value)(?:suffix prefix (?:value))*)suffix, optional for `*`.
        let repeated = RegexNode.repetition(
            .group(.concat([suffix, prefix, .group(value, capture: nil)]), capture: nil), min: 0, max: nil, greedy: true
        )
        let body = RegexNode.group(.concat([.group(value, capture: nil), repeated]), capture: capture)
        let whole = RegexNode.group(.concat([prefix, body, suffix]), capture: nil)
        items.append(part.modifier == .zeroOrMore ? .repetition(whole, min: 0, max: 1, greedy: true) : whole)
    }
    return (.concat(items), names)
}

private func applyModifier(_ node: RegexNode, _ modifier: PatternPart.Modifier) -> RegexNode {
    switch modifier {
    case .none: node
    case .optional: .repetition(node, min: 0, max: 1, greedy: true)
    case .zeroOrMore: .repetition(node, min: 0, max: nil, greedy: true)
    case .oneOrMore: .repetition(node, min: 1, max: nil, greedy: true)
    }
}
