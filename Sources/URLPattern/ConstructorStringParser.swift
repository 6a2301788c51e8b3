/// The standard's "parse a constructor string": splits `https://example.com/books/:id` into
/// component patterns without parsing them (groups and regexps may contain `:`, `/`, `?`, `#`).
struct ConstructorStringParser {
    enum State: Equatable {
        case initial, `protocol`, authority, username, password, hostname, port, pathname, search, hash, done

        var component: URLPattern.Component? {
            switch self {
            case .protocol: .protocol
            case .username: .username
            case .password: .password
            case .hostname: .hostname
            case .port: .port
            case .pathname: .pathname
            case .search: .search
            case .hash: .hash
            default: nil
            }
        }
    }

    private let input: [Unicode.Scalar]
    private let tokens: [PatternToken]
    private var result: [URLPattern.Component: String] = [:]
    private var componentStart = 0
    private var tokenIndex = 0
    private var tokenIncrement = 1
    private var groupDepth = 0
    private var ipv6BracketDepth = 0
    private var protocolMatchesSpecialScheme = false
    private var state = State.initial

    static func parse(_ pattern: String) throws(URLPatternError) -> [URLPattern.Component: String] {
        let input = Array(pattern.unicodeScalars)
        var parser = ConstructorStringParser(
            input: input, tokens: try PatternTokenizer.tokenize(input, policy: .lenient)
        )
        try parser.run()
        return parser.result
    }

    private init(input: [Unicode.Scalar], tokens: [PatternToken]) {
        self.input = input
        self.tokens = tokens
    }

    private mutating func run() throws(URLPatternError) {
        while tokenIndex < tokens.count {
            tokenIncrement = 1
            if tokens[tokenIndex].kind == .end {
                if state == .initial {
                    rewind()
                    if isHashPrefix() {
                        changeState(.hash, skip: 1)
                    } else if isSearchPrefix() {
                        changeState(.search, skip: 1)
                    } else {
                        changeState(.pathname, skip: 0)
                    }
                    tokenIndex += tokenIncrement
                    continue
                }
                if state == .authority {
                    rewind()
                    state = .hostname
                    tokenIndex += tokenIncrement
                    continue
                }
                changeState(.done, skip: 0)
                break
            }
            if tokens[tokenIndex].kind == .open {
                groupDepth += 1
                tokenIndex += tokenIncrement
                continue
            }
            if groupDepth > 0 {
                if tokens[tokenIndex].kind == .close {
                    groupDepth -= 1
                } else {
                    tokenIndex += tokenIncrement
                    continue
                }
            }
            switch state {
            case .initial:
                if isNonSpecialPatternChar(tokenIndex, ":") {
                    rewind()
                    state = .protocol
                }
            case .protocol:
                if isNonSpecialPatternChar(tokenIndex, ":") {
                    try computeProtocolMatchesSpecialScheme()
                    var next = State.pathname
                    var skip = 1
                    if isNonSpecialPatternChar(tokenIndex + 1, "/"), isNonSpecialPatternChar(tokenIndex + 2, "/") {
                        next = .authority
                        skip = 3
                    } else if protocolMatchesSpecialScheme {
                        next = .authority
                    }
                    changeState(next, skip: skip)
                }
            case .authority:
                if isNonSpecialPatternChar(tokenIndex, "@") {
                    rewind()
                    state = .username
                } else if isNonSpecialPatternChar(tokenIndex, "/") || isSearchPrefix() || isHashPrefix() {
                    rewind()
                    state = .hostname
                }
            case .username:
                if isNonSpecialPatternChar(tokenIndex, ":") {
                    changeState(.password, skip: 1)
                } else if isNonSpecialPatternChar(tokenIndex, "@") {
                    changeState(.hostname, skip: 1)
                }
            case .password:
                if isNonSpecialPatternChar(tokenIndex, "@") { changeState(.hostname, skip: 1) }
            case .hostname:
                if isNonSpecialPatternChar(tokenIndex, "[") {
                    ipv6BracketDepth += 1
                } else if isNonSpecialPatternChar(tokenIndex, "]") {
                    ipv6BracketDepth -= 1
                } else if isNonSpecialPatternChar(tokenIndex, ":"), ipv6BracketDepth == 0 {
                    changeState(.port, skip: 1)
                } else if isNonSpecialPatternChar(tokenIndex, "/") {
                    changeState(.pathname, skip: 0)
                } else if isSearchPrefix() {
                    changeState(.search, skip: 1)
                } else if isHashPrefix() {
                    changeState(.hash, skip: 1)
                }
            case .port:
                if isNonSpecialPatternChar(tokenIndex, "/") {
                    changeState(.pathname, skip: 0)
                } else if isSearchPrefix() {
                    changeState(.search, skip: 1)
                } else if isHashPrefix() {
                    changeState(.hash, skip: 1)
                }
            case .pathname:
                if isSearchPrefix() {
                    changeState(.search, skip: 1)
                } else if isHashPrefix() {
                    changeState(.hash, skip: 1)
                }
            case .search:
                if isHashPrefix() { changeState(.hash, skip: 1) }
            case .hash, .done: break
            }
            tokenIndex += tokenIncrement
        }
        if result[.hostname] != nil, result[.port] == nil { result[.port] = "" }
    }

    private mutating func rewind() {
        tokenIndex = componentStart
        tokenIncrement = 0
    }

    private mutating func changeState(_ newState: State, skip: Int) {
        if let component = state.component { result[component] = makeComponentString() }
        if state != .initial, newState != .done {
            let beforeHost: [State] = [.protocol, .authority, .username, .password]
            if beforeHost.contains(state), [.port, .pathname, .search, .hash].contains(newState), result[.hostname] == nil {
                result[.hostname] = ""
            }
            if (beforeHost + [.hostname, .port]).contains(state), [.search, .hash].contains(newState),
                result[.pathname] == nil
            {
                result[.pathname] = protocolMatchesSpecialScheme ? "/" : ""
            }
            if (beforeHost + [.hostname, .port, .pathname]).contains(state), newState == .hash, result[.search] == nil {
                result[.search] = ""
            }
        }
        state = newState
        tokenIndex += skip
        componentStart = tokenIndex
        tokenIncrement = 0
    }

    private func makeComponentString() -> String {
        let end = tokens[tokenIndex].index
        let start = tokens[componentStart].index
        return PatternTokenizer.string(input[start..<max(start, end)])
    }

    private func isNonSpecialPatternChar(_ index: Int, _ value: String) -> Bool {
        guard index < tokens.count else { return false }
        let token = tokens[index]
        guard token.value == value else { return false }
        return token.kind == .char || token.kind == .escapedChar || token.kind == .invalidChar
    }

    private func isSearchPrefix() -> Bool {
        if isNonSpecialPatternChar(tokenIndex, "?") { return true }
        guard tokens[tokenIndex].value == "?" else { return false }
        guard tokenIndex > 0 else { return true }
        switch tokens[tokenIndex - 1].kind {
        case .name, .regexp, .close, .asterisk: return false
        default: return true
        }
    }

    private func isHashPrefix() -> Bool {
        isNonSpecialPatternChar(tokenIndex, "#")
    }

    private mutating func computeProtocolMatchesSpecialScheme() throws(URLPatternError) {
        let component = try CompiledComponent(
            .protocol, pattern: makeComponentString(), options: .default, encode: .protocol,
            limit: URLPattern.maxStates
        )
        protocolMatchesSpecialScheme = component.matchesSpecialScheme
    }
}
