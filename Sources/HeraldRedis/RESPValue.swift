import NIOCore

/// One value of the Redis serialization protocol, covering both RESP2 and RESP3.
///
/// Replies arrive as these; commands are sent with ``RESPCommandEncoder``. Text that Redis
/// sends on a single line (simple strings, errors, big numbers) is kept as `String`; payloads
/// that may be binary (bulk strings, verbatim strings) stay `ByteBuffer`s.
public enum RESPValue: Sendable, Hashable {
    /// `+OK`: a short, line-delimited status text.
    case simpleString(String)
    /// `-ERR message`: an error reply on one line.
    case simpleError(String)
    /// `!len`: a RESP3 error reply whose text may span lines.
    case blobError(String)
    /// `:42`: a signed 64-bit integer.
    case integer(Int64)
    /// `$len` bulk string, binary safe; `nil` is the RESP2 null bulk string (`$-1`).
    case bulkString(ByteBuffer?)
    /// `*n` array; `nil` is the RESP2 null array (`*-1`).
    case array([RESPValue]?)
    /// `_`: the RESP3 null.
    case null
    /// `,3.14`: a RESP3 double, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t` / `#f`: a RESP3 boolean.
    case boolean(Bool)
    /// `(123…`: a RESP3 integer too large for 64 bits, kept as its decimal text.
    case bigNumber(String)
    /// `=len`: a RESP3 verbatim string with its three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, ByteBuffer)
    /// `%n`: a RESP3 map, with its entries in the order the server sent them.
    case map([RESPMapEntry])
    /// `~n`: a RESP3 set, in the order the server sent its members.
    case set([RESPValue])
    /// `|n`: RESP3 attributes attached to the value that follows them on the wire.
    indirect case attribute([RESPMapEntry], RESPValue)
    /// `>n`: a RESP3 out-of-band push (pub/sub messages, invalidations).
    case push([RESPValue])
}

/// One key/value pair of a RESP3 map or attribute, kept in wire order (keys need not be unique).
public struct RESPMapEntry: Sendable, Hashable {
    /// The entry's key.
    public var key: RESPValue
    /// The entry's value.
    public var value: RESPValue

    /// Creates an entry from a key and a value.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}
