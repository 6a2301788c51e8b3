/// One component's pattern, parsed and compiled.
struct CompiledComponent: Sendable, Hashable {
    let component: URLPattern.Component
    /// The component's pattern text (after constructor-string splitting and base URL handling).
    let patternString: String
    let groupNames: [String]
    let program: RegexProgram

    init(
        _ component: URLPattern.Component,
        pattern: String,
        options: PatternOptions,
        encode: Canonical,
        limit: Int
    ) throws(URLPatternError) {
        let parts: [PatternPart]
        let node: RegexNode
        let names: [String]
        do {
            parts = try PatternParser.parse(pattern, options: options, encode: encode)
            (node, names) = try generateRegex(parts, options: options)
            program = try RegexProgram(node, captureCount: names.count, limit: max(limit, 1))
        } catch {
            throw URLPatternError(reason: "\(component.rawValue): \(error.reason)")
        }
        self.component = component
        self.patternString = pattern
        self.groupNames = names
    }

    /// Whether the component (a protocol) matches one of the special schemes.
    var matchesSpecialScheme: Bool {
        ParsedURL.specialSchemes.keys.contains { program.matches($0) }
    }
}

extension URLPattern {
    init(_ components: [Component: String], rawValue: String, baseURL: String?) throws(URLPatternError) {
        var processed: [Component: String] = [:]
        if let baseURL {
            guard let base = ParsedURL(baseURL, baseURL: nil) else {
                throw URLPatternError(reason: "invalid base URL")
            }
            let given = { (names: [Component]) in names.contains { components[$0] != nil } }
            if components[.protocol] == nil { processed[.protocol] = escapePatternString(base.protocol) }
            if !given([.protocol, .hostname, .port, .username]) {
                processed[.username] = escapePatternString(base.username)
            }
            if !given([.protocol, .hostname, .port, .username, .password]) {
                processed[.password] = escapePatternString(base.password)
            }
            if !given([.protocol, .hostname]) { processed[.hostname] = escapePatternString(base.hostname) }
            if !given([.protocol, .hostname, .port]) { processed[.port] = base.port }
            if !given([.protocol, .hostname, .port, .pathname]) {
                processed[.pathname] = escapePatternString(base.pathname)
            }
            if !given([.protocol, .hostname, .port, .pathname, .search]) {
                processed[.search] = escapePatternString(base.search)
            }
            if !given([.protocol, .hostname, .port, .pathname, .search, .hash]) {
                processed[.hash] = escapePatternString(base.hash)
            }
            for (component, value) in components {
                if component == .pathname, !base.hasOpaquePath, !Self.isAbsolutePathname(value) {
                    var basePath = escapePatternString(base.pathname)
                    if let slash = basePath.lastIndex(of: "/") {
                        basePath = String(basePath[...slash])
                    } else {
                        basePath = ""
                    }
                    processed[component] = basePath + value
                } else {
                    processed[component] = value
                }
            }
        } else {
            processed = components
        }
        for component in Component.allCases where processed[component] == nil { processed[component] = "*" }
        let protocolText = processed[.protocol]!
        if let port = ParsedURL.specialSchemes[protocolText], let port, processed[.port] == String(port) {
            processed[.port] = ""
        }

        var budget = Self.maxStates
        var compiled: [CompiledComponent] = []
        let protocolComponent = try CompiledComponent(
            .protocol, pattern: protocolText, options: .default, encode: .protocol, limit: budget
        )
        budget -= protocolComponent.program.instructions.count
        compiled.append(protocolComponent)
        let special = protocolComponent.matchesSpecialScheme
        for component in Component.allCases where component != .protocol {
            let pattern = processed[component]!
            let options: PatternOptions
            let encode: Canonical
            switch component {
            case .username: (options, encode) = (.default, .username)
            case .password: (options, encode) = (.default, .password)
            case .hostname: (options, encode) = (.hostname, Self.isIPv6Pattern(pattern) ? .ipv6Hostname : .hostname)
            case .port: (options, encode) = (.default, .port(protocol: ""))  // pieces keep a default port
            case .pathname: (options, encode) = special ? (.pathname, .pathname) : (.default, .opaquePathname)
            case .search: (options, encode) = (.default, .search)
            case .hash: (options, encode) = (.default, .hash)
            case .protocol: continue
            }
            let result = try CompiledComponent(component, pattern: pattern, options: options, encode: encode, limit: budget)
            budget -= result.program.instructions.count
            compiled.append(result)
        }
        self.rawValue = rawValue
        self.baseURL = baseURL
        self.components = compiled
    }

    private static func isAbsolutePathname(_ value: String) -> Bool {
        value.hasPrefix("/") || value.hasPrefix("\\/") || value.hasPrefix("{/")
    }

    private static func isIPv6Pattern(_ value: String) -> Bool {
        value.hasPrefix("[") || value.hasPrefix("{[") || value.hasPrefix("\\[")
    }
}
