/// Percent-encode sets of the URL standard.
enum EncodeSet {
    case c0Control, fragment, query, specialQuery, path, userinfo

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || value > 0x7E { return true }
        let c = Character(scalar)
        switch self {
        case .c0Control: return false
        case .fragment: return " \"<>`".contains(c)
        case .query: return " \"#<>".contains(c)
        case .specialQuery: return " \"#<>'".contains(c)
        case .path: return " \"#<>?`{}^".contains(c)
        case .userinfo: return " \"#<>?`{}/:;=@[\\]^|".contains(c)
        }
    }
}

func percentEncode(_ text: some Sequence<Unicode.Scalar>, _ set: EncodeSet) -> String {
    var result = ""
    for scalar in text {
        if set.contains(scalar) {
            for byte in String(scalar).utf8 {
                result += "%"
                result += String(byte >> 4, radix: 16, uppercase: true)
                result += String(byte & 0xF, radix: 16, uppercase: true)
            }
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// A URL split into the eight components URL patterns match, parsed the way the WHATWG URL
/// standard does for what topics use: schemes, authority (userinfo, host, port), path with dot
/// segments resolved, query and fragment, percent-encoded like a browser. Out of scope: IDNA
/// (non-ASCII host names are refused, so never match) and Windows drive letters in `file:` URLs.
struct ParsedURL: Sendable {
    var `protocol` = ""
    var username = ""
    var password = ""
    var hostname = ""
    var port = ""
    var pathname = ""
    var search = ""
    var hash = ""
    var hasOpaquePath = false
    private var pathSegments: [String] = []

    /// Special schemes and their default ports.
    static let specialSchemes: [String: Int?] = [
        "ftp": 21, "file": nil, "http": 80, "https": 443, "ws": 80, "wss": 443,
    ]

    subscript(component: URLPattern.Component) -> String {
        switch component {
        case .protocol: self.protocol
        case .username: username
        case .password: password
        case .hostname: hostname
        case .port: port
        case .pathname: pathname
        case .search: search
        case .hash: hash
        }
    }

    var isSpecial: Bool { Self.specialSchemes[self.protocol] != nil }

    init?(_ input: String, baseURL: String?) {
        var base: ParsedURL?
        if let baseURL {
            guard let parsed = ParsedURL(baseURL, baseURL: nil) else { return nil }
            base = parsed
        }
        var scalars = Array(input.unicodeScalars)
        while let first = scalars.first, first.value <= 0x20 { scalars.removeFirst() }
        while let last = scalars.last, last.value <= 0x20 { scalars.removeLast() }
        scalars.removeAll { $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard parse(scalars[...], base: base) else { return nil }
    }

    private init() {}

    /// The standard's "process a URLPatternInit" for a URL given per component: each given
    /// component canonicalized, the others from `baseURL` (as far as the standard says) or empty.
    init?(components input: [URLPattern.Component: String], baseURL: String?) {
        var result = ParsedURL()
        var base: ParsedURL?
        if let baseURL {
            guard let parsed = ParsedURL(baseURL, baseURL: nil) else { return nil }
            base = parsed
            let given = { (names: [URLPattern.Component]) in names.contains { input[$0] != nil } }
            result.protocol = parsed.protocol
            if !given([.protocol, .hostname, .port, .username]) { result.username = parsed.username }
            if !given([.protocol, .hostname, .port, .username, .password]) { result.password = parsed.password }
            if !given([.protocol, .hostname]) { result.hostname = parsed.hostname }
            if !given([.protocol, .hostname, .port]) { result.port = parsed.port }
            if !given([.protocol, .hostname, .port, .pathname]) { result.pathname = parsed.pathname }
            if !given([.protocol, .hostname, .port, .pathname, .search]) { result.search = parsed.search }
            if !given([.protocol, .hostname, .port, .pathname, .search, .hash]) { result.hash = parsed.hash }
        }
        do {
            if var value = input[.protocol] {
                if value.hasSuffix(":") { value.removeLast() }
                result.protocol = try Canonical.protocol.apply(value)
            }
            if let value = input[.username] { result.username = try Canonical.username.apply(value) }
            if let value = input[.password] { result.password = try Canonical.password.apply(value) }
            if let value = input[.hostname] {
                if value.isEmpty {
                    result.hostname = ""
                } else {
                    guard let host = Host.parse(Array(value.unicodeScalars)[...], special: result.isSpecial || input[.protocol] == nil) else {
                        return nil
                    }
                    result.hostname = host
                }
            }
            if let value = input[.port] { result.port = try Canonical.port(protocol: result.protocol).apply(value) }
            if var value = input[.pathname] {
                if let base, !base.hasOpaquePath, !value.hasPrefix("/"), let slash = base.pathname.lastIndex(of: "/") {
                    value = String(base.pathname[...slash]) + value
                }
                if result.protocol.isEmpty || result.isSpecial {
                    result.pathname = value.isEmpty ? "" : Self.canonicalPath(value, special: true)
                } else {
                    result.pathname = percentEncode(value.unicodeScalars, .c0Control)
                }
            }
            if var value = input[.search] {
                if value.hasPrefix("?") { value.removeFirst() }
                result.search = percentEncode(value.unicodeScalars, result.isSpecial ? .specialQuery : .query)
            }
            if var value = input[.hash] {
                if value.hasPrefix("#") { value.removeFirst() }
                result.hash = try Canonical.hash.apply(value)
            }
        } catch {
            return nil
        }
        self = result
    }

    private static func canonicalPath(_ value: String, special: Bool) -> String {
        let scalars = Array(value.unicodeScalars)
        let leadingSlash = scalars.first == "/" || (special && scalars.first == "\\")
        let input: [Unicode.Scalar] = leadingSlash ? Array(scalars.dropFirst()) : ["-"] + scalars
        var segments: [String] = []
        appendSegments(input[...], to: &segments, special: special)
        let joined = "/" + segments.joined(separator: "/")
        return leadingSlash ? joined : String(joined.dropFirst(2))
    }

    private mutating func parse(_ input: ArraySlice<Unicode.Scalar>, base: ParsedURL?) -> Bool {
        var rest = input
        if let scheme = Self.scheme(of: input) {
            self.protocol = scheme.lowercased()
            rest = input.dropFirst(scheme.unicodeScalars.count + 1)
            let slash: (Unicode.Scalar) -> Bool = { $0 == "/" || $0 == "\\" }
            if self.protocol == "file" {
                if rest.starts(with: ["/", "/"]) || (rest.count >= 2 && slash(rest.first!) && slash(rest.dropFirst().first!)) {
                    rest = rest.dropFirst(2)
                    guard parseAuthority(&rest) else { return false }
                }
                parsePathQueryFragment(rest)
                return true
            }
            if isSpecial {
                if let base, base.protocol == self.protocol, !(rest.first.map(slash) ?? false) {
                    return resolveRelative(rest, base: base)
                }
                while let first = rest.first, slash(first) { rest = rest.dropFirst() }
                guard parseAuthority(&rest), !hostname.isEmpty else { return false }
                parsePathQueryFragment(rest)
                return true
            }
            if rest.starts(with: ["/", "/"]) {
                rest = rest.dropFirst(2)
                guard parseAuthority(&rest) else { return false }
                parsePathQueryFragment(rest)
            } else if rest.first == "/" {
                parsePathQueryFragment(rest)
            } else {
                hasOpaquePath = true
                let end = rest.firstIndex { $0 == "?" || $0 == "#" } ?? rest.endIndex
                pathname = percentEncode(rest[rest.startIndex..<end], .c0Control)
                parseQueryFragment(rest[end...])
            }
            return true
        }
        guard let base else { return false }
        self.protocol = base.protocol
        return resolveRelative(rest, base: base)
    }

    private mutating func resolveRelative(_ input: ArraySlice<Unicode.Scalar>, base: ParsedURL) -> Bool {
        let special = isSpecial
        let slash: (Unicode.Scalar) -> Bool = { $0 == "/" || (special && $0 == "\\") }
        var rest = input
        if base.hasOpaquePath {
            guard rest.first == "#" else { return false }
            self = base
            parseQueryFragment(rest, keepingQuery: true)
            return true
        }
        if rest.count >= 2, slash(rest.first!), slash(rest.dropFirst().first!) {
            rest = rest.dropFirst(2)
            guard parseAuthority(&rest) else { return false }
            if special, self.protocol != "file", hostname.isEmpty { return false }
            parsePathQueryFragment(rest)
            return true
        }
        username = base.username
        password = base.password
        hostname = base.hostname
        port = base.port
        if let first = rest.first, slash(first) {
            parsePathQueryFragment(rest)
        } else if rest.isEmpty || rest.first == "?" || rest.first == "#" {
            pathSegments = base.pathSegments
            pathname = base.pathname
            if rest.isEmpty {
                search = base.search
            } else if rest.first == "#" {
                search = base.search
                parseQueryFragment(rest, keepingQuery: true)
                return true
            }
            parseQueryFragment(rest)
        } else {
            pathSegments = Array(base.pathSegments.dropLast())
            parsePathQueryFragment(rest, relative: true)
        }
        return true
    }

    static func scheme(of input: ArraySlice<Unicode.Scalar>) -> String? {
        guard let first = input.first, first.isASCII, first.properties.isAlphabetic else { return nil }
        var scheme = ""
        for scalar in input {
            if scalar == ":" { return scheme }
            guard scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || scalar == "+" || scalar == "-" || scalar == "."
            else { return nil }
            scheme.unicodeScalars.append(scalar)
        }
        return nil
    }

    /// Parses `userinfo@host:port` up to the path, query or fragment.
    private mutating func parseAuthority(_ rest: inout ArraySlice<Unicode.Scalar>) -> Bool {
        let special = isSpecial
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" || (special && $0 == "\\") } ?? rest.endIndex
        var authority = rest[rest.startIndex..<end]
        rest = rest[end...]
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[authority.startIndex..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                username = percentEncode(userinfo[userinfo.startIndex..<colon], .userinfo)
                password = percentEncode(userinfo[userinfo.index(after: colon)...], .userinfo)
            } else {
                username = percentEncode(userinfo, .userinfo)
            }
            authority = authority[authority.index(after: at)...]
        }
        var hostEnd = authority.endIndex
        var bracket = false
        for index in authority.indices {
            let scalar = authority[index]
            if scalar == "[" { bracket = true }
            if scalar == "]" { bracket = false }
            if scalar == ":", !bracket {
                hostEnd = index
                break
            }
        }
        let hostText = authority[authority.startIndex..<hostEnd]
        if hostEnd < authority.endIndex {
            let portText = authority[authority.index(after: hostEnd)...]
            if !portText.isEmpty {
                guard portText.allSatisfy({ ("0"..."9").contains($0) }) else { return false }
                let digits = String(String.UnicodeScalarView(portText))
                guard let number = Int(digits.count > 5 ? "999999" : digits), number <= 65535 else { return false }
                if let defaultPort = Self.specialSchemes[self.protocol], defaultPort == number {
                    port = ""
                } else {
                    port = String(number)
                }
            }
        }
        guard let host = Host.parse(hostText, special: special) else { return false }
        hostname = host
        return true
    }

    private mutating func parsePathQueryFragment(_ input: ArraySlice<Unicode.Scalar>, relative: Bool = false) {
        let end = input.firstIndex { $0 == "?" || $0 == "#" } ?? input.endIndex
        var path = input[input.startIndex..<end]
        let special = isSpecial
        if !relative {
            pathSegments = []
            if let first = path.first, first == "/" || (special && first == "\\") { path = path.dropFirst() }
        }
        if !(path.isEmpty && !special && !relative && input.first != "/" && input.first != "\\") {
            Self.appendSegments(path, to: &pathSegments, special: special)
        }
        if pathSegments.isEmpty && !special && path.isEmpty && input.first != "/" {
            pathname = ""
        } else {
            pathname = "/" + pathSegments.joined(separator: "/")
        }
        parseQueryFragment(input[end...])
    }

    private static func appendSegments(_ path: ArraySlice<Unicode.Scalar>, to segments: inout [String], special: Bool) {
        var segment: [Unicode.Scalar] = []
        var index = path.startIndex
        while true {
            let atEnd = index == path.endIndex
            if atEnd || path[index] == "/" || (special && path[index] == "\\") {
                let text = String(String.UnicodeScalarView(segment)).lowercased()
                if text == ".." || text == ".%2e" || text == "%2e." || text == "%2e%2e" {
                    if !segments.isEmpty { segments.removeLast() }
                    if atEnd { segments.append("") }
                } else if text == "." || text == "%2e" {
                    if atEnd { segments.append("") }
                } else {
                    segments.append(percentEncode(segment, .path))
                }
                segment.removeAll()
                if atEnd { break }
            } else {
                segment.append(path[index])
            }
            index += 1
        }
    }

    private mutating func parseQueryFragment(_ input: ArraySlice<Unicode.Scalar>, keepingQuery: Bool = false) {
        var rest = input
        if !keepingQuery { search = "" }
        hash = ""
        if rest.first == "?" {
            let end = rest.firstIndex(of: "#") ?? rest.endIndex
            search = percentEncode(rest[rest.index(after: rest.startIndex)..<end], isSpecial ? .specialQuery : .query)
            rest = rest[end...]
        }
        if rest.first == "#" {
            hash = percentEncode(rest.dropFirst(), .fragment)
        }
    }

    /// Canonicalizes the fixed text of a pathname pattern the way a URL path is (dot segments,
    /// percent-encoding), keeping a relative piece relative.
    static func canonicalPathnamePiece(_ value: String) -> String {
        canonicalPath(value, special: false)
    }
}

/// Host parsing: domains (ASCII only), IPv4 and IPv6 addresses, opaque hosts.
enum Host {
    static let forbiddenHost: Set<Unicode.Scalar> = Set(" #/:<>?@[\\]^|".unicodeScalars).union(["\u{0}", "\t", "\n", "\r"])

    static func parse(_ input: ArraySlice<Unicode.Scalar>, special: Bool) -> String? {
        if input.first == "[" {
            guard input.last == "]", let address = IPv6.parse(input.dropFirst().dropLast()) else { return nil }
            return "[" + IPv6.serialize(address) + "]"
        }
        if !special {
            guard !input.contains(where: { forbiddenHost.contains($0) }) else { return nil }
            return percentEncode(input, .c0Control)
        }
        guard let decoded = percentDecode(input) else { return nil }
        var domain = ""
        for scalar in decoded.unicodeScalars {
            guard scalar.isASCII else { return nil }  // IDNA is out of scope
            if forbiddenHost.contains(scalar) || scalar.value < 0x20 || scalar == "%" || scalar.value == 0x7F { return nil }
            domain.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: scalar) | (("A"..."Z").contains(scalar) ? 0x20 : 0)))
        }
        if endsInNumber(domain) {
            guard let address = IPv4.parse(domain) else { return nil }
            return IPv4.serialize(address)
        }
        return domain
    }

    static func percentDecode(_ input: ArraySlice<Unicode.Scalar>) -> String? {
        var bytes: [UInt8] = []
        var index = input.startIndex
        while index < input.endIndex {
            let scalar = input[index]
            if scalar == "%", index + 2 < input.endIndex, let high = input[index + 1].hexValue, let low = input[index + 2].hexValue {
                bytes.append(UInt8(high * 16 + low))
                index += 3
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
                index += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func endsInNumber(_ domain: String) -> Bool {
        var parts = domain.split(separator: ".", omittingEmptySubsequences: false)
        if parts.last == "" {
            guard parts.count > 1 else { return false }
            parts.removeLast()
        }
        guard let last = parts.last, !last.isEmpty else { return false }
        if last.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        return IPv4.number(last) != nil
    }
}

private extension UInt8 {
    init(ascii scalar: Unicode.Scalar) { self = UInt8(truncatingIfNeeded: scalar.value) }
}

enum IPv4 {
    static func number(_ text: Substring) -> UInt64? {
        var digits = text
        var radix = 10
        if digits.count >= 2, digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        } else if digits.count >= 2, digits.hasPrefix("0") {
            digits = digits.dropFirst()
            radix = 8
        }
        if digits.isEmpty { return 0 }
        guard digits.count <= 20 else { return nil }
        return UInt64(digits, radix: radix)
    }

    static func parse(_ domain: String) -> UInt32? {
        var parts = domain.split(separator: ".", omittingEmptySubsequences: false)
        if parts.last == "", parts.count > 1 { parts.removeLast() }
        guard parts.count <= 4, !parts.isEmpty else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            guard !part.isEmpty, let number = number(part) else { return nil }
            numbers.append(number)
        }
        for number in numbers.dropLast() where number > 255 { return nil }
        guard numbers.last! < (UInt64(1) << (8 * (5 - numbers.count))) else { return nil }
        var address = numbers.last!
        for (index, number) in numbers.dropLast().enumerated() {
            address += number << (8 * (3 - index))
        }
        return UInt32(address)
    }

    static func serialize(_ address: UInt32) -> String {
        (0..<4).map { String((address >> (8 * (3 - $0))) & 0xFF) }.joined(separator: ".")
    }
}

enum IPv6 {
    static func parse(_ input: ArraySlice<Unicode.Scalar>) -> [UInt16]? {
        var address = [UInt16](repeating: 0, count: 8)
        var pieceIndex = 0
        var compress: Int?
        var index = input.startIndex
        let end = input.endIndex
        if index < end, input[index] == ":" {
            guard index + 1 < end, input[index + 1] == ":" else { return nil }
            index += 2
            pieceIndex += 1
            compress = pieceIndex
        }
        while index < end {
            guard pieceIndex < 8 else { return nil }
            if input[index] == ":" {
                guard compress == nil else { return nil }
                index += 1
                pieceIndex += 1
                compress = pieceIndex
                continue
            }
            var value: UInt32 = 0
            var length = 0
            while length < 4, index < end, let digit = input[index].hexValue {
                value = value * 16 + digit
                index += 1
                length += 1
            }
            if index < end, input[index] == "." {
                guard length > 0, pieceIndex <= 6 else { return nil }
                index -= length
                var numbersSeen = 0
                while index < end {
                    var ipv4Piece: UInt32?
                    if numbersSeen > 0 {
                        guard input[index] == ".", numbersSeen < 4 else { return nil }
                        index += 1
                    }
                    guard index < end, ("0"..."9").contains(input[index]) else { return nil }
                    while index < end, ("0"..."9").contains(input[index]) {
                        let digit = input[index].value - 0x30
                        if ipv4Piece == 0 { return nil }
                        ipv4Piece = (ipv4Piece ?? 0) * 10 + digit
                        guard ipv4Piece! <= 255 else { return nil }
                        index += 1
                    }
                    address[pieceIndex] = address[pieceIndex] &* 0x100 &+ UInt16(ipv4Piece!)
                    numbersSeen += 1
                    if numbersSeen == 2 || numbersSeen == 4 { pieceIndex += 1 }
                }
                guard numbersSeen == 4 else { return nil }
                break
            } else if index < end, input[index] == ":" {
                index += 1
                guard index < end else { return nil }
            } else if index < end {
                return nil
            }
            address[pieceIndex] = UInt16(value)
            pieceIndex += 1
        }
        if let compress {
            var swaps = pieceIndex - compress
            pieceIndex = 7
            while pieceIndex != 0, swaps > 0 {
                address.swapAt(pieceIndex, compress + swaps - 1)
                pieceIndex -= 1
                swaps -= 1
            }
        } else if pieceIndex != 8 {
            return nil
        }
        return address
    }

    static func serialize(_ address: [UInt16]) -> String {
        // Longest run (> 1) of zero pieces is compressed.
        var best = (start: -1, length: 1)
        var index = 0
        while index < 8 {
            if address[index] == 0 {
                var end = index
                while end < 8, address[end] == 0 { end += 1 }
                if end - index > best.length { best = (index, end - index) }
                index = end
            } else {
                index += 1
            }
        }
        var output = ""
        var ignore0 = false
        for pieceIndex in 0..<8 {
            if ignore0, address[pieceIndex] == 0 { continue }
            ignore0 = false
            if best.start == pieceIndex {
                output += pieceIndex == 0 ? "::" : ":"
                ignore0 = true
                continue
            }
            output += String(address[pieceIndex], radix: 16)
            if pieceIndex != 7 { output += ":" }
        }
        return output
    }
}

/// The standard's encoding callbacks: how a pattern's fixed text is canonicalized per component.
enum Canonical: Sendable, Hashable {
    case `protocol`, username, password, hostname, ipv6Hostname, port(protocol: String), pathname, opaquePathname,
        search, hash

    func apply(_ value: String) throws(URLPatternError) -> String {
        switch self {
        case .protocol:
            if value.isEmpty { return value }
            guard ParsedURL.scheme(of: Array((value + ":").unicodeScalars)[...]) != nil else {
                throw URLPatternError(reason: "invalid protocol '\(value)'")
            }
            return value.lowercased()
        case .username, .password: return percentEncode(value.unicodeScalars, .userinfo)
        case .hostname:
            var result = ""
            for scalar in value.unicodeScalars {
                guard scalar.isASCII else { throw URLPatternError(reason: "non-ASCII host names are not supported") }
                if Host.forbiddenHost.contains(scalar) || scalar.value < 0x20 || scalar.value == 0x7F || scalar == "%" {
                    throw URLPatternError(reason: "invalid host name character '\(scalar)'")
                }
                result.unicodeScalars.append(scalar)
            }
            return result.lowercased()
        case .ipv6Hostname:
            var result = ""
            for scalar in value.unicodeScalars {
                guard scalar.hexValue != nil || scalar == "[" || scalar == "]" || scalar == ":" else {
                    throw URLPatternError(reason: "invalid IPv6 host name character '\(scalar)'")
                }
                result.unicodeScalars.append(scalar)
            }
            return result.lowercased()
        case .port(let scheme):
            if value.isEmpty { return value }
            guard value.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), value.count <= 5,
                let number = Int(value), number <= 65535
            else {
                throw URLPatternError(reason: "invalid port '\(value)'")
            }
            if let defaultPort = ParsedURL.specialSchemes[scheme], defaultPort == number { return "" }
            return String(number)
        case .pathname: return value.isEmpty ? value : ParsedURL.canonicalPathnamePiece(value)
        case .opaquePathname: return percentEncode(value.unicodeScalars, .c0Control)
        case .search: return percentEncode(value.unicodeScalars, .query)
        case .hash: return percentEncode(value.unicodeScalars, .fragment)
        }
    }
}
