/// Where and how to connect to Redis: address, credentials, database, protocol and timeouts.
public struct RedisConfiguration: Sendable, Hashable {
    /// Which protocol the handshake asks for.
    public enum ProtocolPreference: Sendable, Hashable {
        /// `HELLO 3`, falling back to RESP2 when the server refuses it.
        case resp3
        /// Plain RESP2 with `AUTH`, for servers or proxies that mishandle `HELLO`.
        case resp2
    }

    /// Host name or IP address of the server.
    public var host: String
    /// TCP port of the server.
    public var port: Int
    /// ACL user name; nil authenticates as the default user when a password is set.
    public var username: String?
    /// Password; nil means no authentication.
    public var password: String?
    /// Database index selected after connecting.
    public var database: Int
    /// Protocol asked for in the handshake.
    public var protocolPreference: ProtocolPreference
    /// Name announced with `CLIENT SETNAME` (via `HELLO`), shown by `CLIENT LIST`.
    public var clientName: String?
    /// Longest wait for the TCP connection to open.
    public var connectTimeout: Duration
    /// Longest wait for any reply; nil waits forever. On expiry the connection is closed.
    /// Blocking commands (`BLPOP`, `XREAD BLOCK`) need nil or a larger value.
    public var commandTimeout: Duration?
    /// Bounds on what the server may send.
    public var decoderLimits: RESPDecoderLimits

    /// The default Redis port.
    public static let defaultPort = 6379

    /// Creates a configuration from its parts.
    public init(
        host: String = "127.0.0.1",
        port: Int = RedisConfiguration.defaultPort,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        protocolPreference: ProtocolPreference = .resp3,
        clientName: String? = nil,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration? = .seconds(30),
        decoderLimits: RESPDecoderLimits = .default
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.protocolPreference = protocolPreference
        self.clientName = clientName
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.decoderLimits = decoderLimits
    }
}

/// A Redis URL that could not be used.
public struct RedisConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the URL was refused.
    public enum Kind: Sendable, Hashable {
        /// The URL does not follow `redis://[[user]:password@]host[:port][/db]`.
        case invalidURL
        /// `rediss://` (TLS) was asked for; this client speaks plain TCP only for now.
        case tlsNotSupported
    }

    /// The category of the problem.
    public var kind: Kind
    /// A human-readable account (never containing the password).
    public var detail: String

    /// Creates an error of `kind` with a description.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// A one-line account of the error, for logs.
    public var description: String { "Redis configuration error (\(kind)): \(detail)" }
}
