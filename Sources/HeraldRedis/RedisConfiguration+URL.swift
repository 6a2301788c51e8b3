extension RedisConfiguration {
    /// Creates a configuration from `redis://[[user]:password@]host[:port][/db]`.
    ///
    /// The port defaults to 6379 and the database to 0; user and password may be
    /// percent-encoded; an IPv6 host goes in brackets. `rediss://` is recognized but refused
    /// with ``RedisConfigurationError/Kind/tlsNotSupported``. Query strings are refused rather
    /// than silently ignored.
    public init(
        url: String,
        protocolPreference: ProtocolPreference = .resp3,
        clientName: String? = nil,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration? = .seconds(30),
        decoderLimits: RESPDecoderLimits = .default
    ) throws(RedisConfigurationError) {
        let parts = try RedisURLParser.parse(url)
        self.init(
            host: parts.host,
            port: parts.port,
            username: parts.username,
            password: parts.password,
            database: parts.database,
            protocolPreference: protocolPreference,
            clientName: clientName,
            connectTimeout: connectTimeout,
            commandTimeout: commandTimeout,
            decoderLimits: decoderLimits
        )
    }
}

/// Splits a Redis URL into its parts; knows nothing of sockets or timeouts.
enum RedisURLParser {
    struct Parts: Equatable {
        var host: String
        var port: Int
        var username: String?
        var password: String?
        var database: Int
    }

    static func parse(_ url: String) throws(RedisConfigurationError) -> Parts {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            throw invalid("missing scheme")
        }
        switch url[..<colon].lowercased() {
        case "redis": break
        case "rediss": throw RedisConfigurationError(.tlsNotSupported, "rediss:// (TLS) is not supported yet")
        default: throw invalid("scheme must be redis://")
        }
        let rest = url[url.index(colon, offsetBy: 3)...]
        if rest.contains("?") || rest.contains("#") { throw invalid("query and fragment are not supported") }

        let authority = rest.prefix { $0 != "/" }
        let path = rest[authority.endIndex...]
        var parts = Parts(host: "", port: RedisConfiguration.defaultPort, database: 0)

        var hostAndPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostAndPort = authority[authority.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw invalid("credentials need a password: use redis://[user]:password@host")
            }
            let user = try percentDecoded(userInfo[..<colon])
            let password = try percentDecoded(userInfo[userInfo.index(after: colon)...])
            guard !password.isEmpty else { throw invalid("empty password") }
            parts.username = user.isEmpty ? nil : user
            parts.password = password
        }

        let portText: Substring?
        if hostAndPort.first == "[" {
            guard let close = hostAndPort.firstIndex(of: "]") else { throw invalid("unclosed [ in host") }
            parts.host = String(hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close])
            let afterHost = hostAndPort[hostAndPort.index(after: close)...]
            if afterHost.isEmpty {
                portText = nil
            } else if afterHost.first == ":" {
                portText = afterHost.dropFirst()
            } else {
                throw invalid("unexpected text after ]")
            }
        } else if let colon = hostAndPort.firstIndex(of: ":") {
            parts.host = String(hostAndPort[..<colon])
            portText = hostAndPort[hostAndPort.index(after: colon)...]
        } else {
            parts.host = String(hostAndPort)
            portText = nil
        }
        guard !parts.host.isEmpty, !parts.host.contains(" ") else { throw invalid("missing or malformed host") }
        if let portText {
            guard let port = decimal(portText), (1...65535).contains(port) else { throw invalid("bad port") }
            parts.port = port
        }

        if path.count > 1 {
            guard let database = decimal(path.dropFirst()), database <= Int(Int32.max) else {
                throw invalid("database must be a non-negative number")
            }
            parts.database = database
        }
        return parts
    }

    private static func invalid(_ detail: String) -> RedisConfigurationError {
        RedisConfigurationError(.invalidURL, detail)
    }

    /// A short run of ASCII digits as a number; nil for anything else.
    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 10, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }

    private static func percentDecoded(_ text: Substring) throws(RedisConfigurationError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next()?.asciiHexValue, let low = iterator.next()?.asciiHexValue else {
                throw invalid("bad percent-encoding in credentials")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
