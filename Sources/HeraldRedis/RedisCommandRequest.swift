import NIOCore

/// An encoded command on its way to the server, with the promise its reply completes.
struct RedisCommandRequest: Sendable {
    /// The command, already RESP-encoded.
    var payload: ByteBuffer
    /// Completed with the reply (error replies included, as values).
    var promise: EventLoopPromise<RESPValue>
    /// For (P)SUBSCRIBE/(P)UNSUBSCRIBE: how many confirmation frames complete the command
    /// (one per channel or pattern named); 0 for ordinary commands.
    var pubSubConfirmations: Int = 0
}

/// How a connection treats frames that are not replies to its commands.
struct RedisPushRouting: Sendable {
    /// Whether RESP2 arrays such as `["message", channel, payload]` count as pub/sub traffic;
    /// true only on subscriber connections, where no other command can return an array.
    var recognizesRESP2PubSub: Bool
    /// Receives pub/sub messages and other out-of-band pushes, on the connection's event loop:
    /// every push decoded from one read of the socket at once, in order (and always before the
    /// replies that followed them complete their commands).
    var deliver: @Sendable ([RESPValue]) -> Void
}
