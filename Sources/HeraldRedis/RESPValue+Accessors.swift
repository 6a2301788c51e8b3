import NIOCore

extension RESPValue {
    /// The value with any attributes stripped, so callers can match on the reply itself.
    public var withoutAttributes: RESPValue {
        var value = self
        while case .attribute(_, let inner) = value { value = inner }
        return value
    }

    /// True for both the RESP3 null and the RESP2 null bulk string / null array.
    public var isNull: Bool {
        switch withoutAttributes {
        case .null, .bulkString(nil), .array(nil): true
        default: false
        }
    }

    /// True for error replies, simple or blob.
    public var isError: Bool {
        switch withoutAttributes {
        case .simpleError, .blobError: true
        default: false
        }
    }

    /// The error text of an error reply, nil for anything else.
    public var errorMessage: String? {
        switch withoutAttributes {
        case .simpleError(let message), .blobError(let message): message
        default: nil
        }
    }

    /// The value as text: simple strings, bulk and verbatim strings (decoded as UTF-8, invalid
    /// bytes replaced), big numbers and integers; nil for nulls, aggregates and errors.
    public var string: String? {
        switch withoutAttributes {
        case .simpleString(let text), .bigNumber(let text): text
        case .bulkString(let buffer?), .verbatimString(_, let buffer): String(buffer: buffer)
        case .integer(let number): String(number)
        default: nil
        }
    }

    /// The raw bytes of a bulk or verbatim string, or the UTF-8 bytes of a simple string.
    public var buffer: ByteBuffer? {
        switch withoutAttributes {
        case .bulkString(let buffer?), .verbatimString(_, let buffer): buffer
        case .simpleString(let text): ByteBuffer(string: text)
        default: nil
        }
    }

    /// The value as an integer: integers, and strings holding a decimal integer (RESP2 often
    /// sends numbers as bulk strings).
    public var int: Int? {
        switch withoutAttributes {
        case .integer(let number): Int(exactly: number)
        case .simpleString, .bulkString, .bigNumber: string.flatMap { Int($0) }
        default: nil
        }
    }

    /// The value as a double: doubles, integers, and strings holding a number.
    public var double: Double? {
        switch withoutAttributes {
        case .double(let number): number
        case .integer(let number): Double(number)
        case .simpleString, .bulkString: string.flatMap { Double($0) }
        default: nil
        }
    }

    /// The value as a boolean: RESP3 booleans, and RESP2's integers 0 and 1.
    public var bool: Bool? {
        switch withoutAttributes {
        case .boolean(let flag): flag
        case .integer(0): false
        case .integer(1): true
        default: nil
        }
    }

    /// The elements of an array, set or push; nil for anything else (including the null array).
    public var array: [RESPValue]? {
        switch withoutAttributes {
        case .array(let elements?), .set(let elements), .push(let elements): elements
        default: nil
        }
    }

    /// The entries of a RESP3 map, or of a RESP2 array of alternating keys and values (as
    /// `HGETALL` and `HELLO` answer under RESP2); nil otherwise.
    public var mapEntries: [RESPMapEntry]? {
        switch withoutAttributes {
        case .map(let entries):
            return entries
        case .array(let elements?) where elements.count.isMultiple(of: 2):
            return stride(from: 0, to: elements.count, by: 2).map {
                RESPMapEntry(key: elements[$0], value: elements[$0 + 1])
            }
        default:
            return nil
        }
    }

    /// The first value of a map (RESP3 or RESP2 style) whose key reads as `key`.
    public subscript(key: String) -> RESPValue? {
        mapEntries?.first { $0.key.string == key }?.value
    }
}
