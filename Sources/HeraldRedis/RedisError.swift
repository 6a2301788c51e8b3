/// An error reply from the Redis server (`-ERR …`, `-WRONGTYPE …`, `!…`), thrown by `send`.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server's message, as sent (for example `ERR unknown command 'FOO'`).
    public var message: String

    /// Creates an error carrying the server's `message`.
    public init(message: String) {
        self.message = message
    }

    /// The leading upper-case word Redis uses as error code (`ERR`, `WRONGTYPE`, `NOAUTH`).
    public var code: String {
        String(message.prefix { $0 != " " })
    }

    /// A one-line account of the error, for logs.
    public var description: String { "Redis error: \(message)" }
}

/// A failure of the client or its connection, rather than an error reply from the server.
public struct RedisConnectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable {
        /// The connection closed (or was closed) before the reply arrived.
        case connectionClosed
        /// No reply within the configured command timeout; the connection is closed, because
        /// replies can no longer be matched to commands.
        case timedOut
        /// The server sent something the client did not ask for or cannot interpret.
        case unexpectedReply
    }

    /// The category of the failure.
    public var kind: Kind
    /// A human-readable account, for logs.
    public var detail: String

    /// Creates an error of `kind` with a description for logs.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// A one-line account of the error, for logs.
    public var description: String { "Redis connection error (\(kind)): \(detail)" }
}

extension RedisConnectionError {
    /// The error pending commands fail with when `error` ends the connection: decoding and
    /// client errors stay as they are; socket errors become ``Kind/connectionClosed``.
    static func lost(_ error: any Error) -> any Error {
        switch error {
        case is RESPDecodingError, is RedisConnectionError: error
        default: RedisConnectionError(.connectionClosed, "the connection was lost: \(error)")
        }
    }
}
