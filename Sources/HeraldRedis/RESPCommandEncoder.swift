import NIOCore

/// Encodes commands the way Redis expects them from clients: an array of bulk strings.
public enum RESPCommandEncoder {
    /// Appends `arguments` (command name first) to `buffer`, each as UTF-8 bulk string.
    public static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        writeHeader(UInt8(ascii: "*"), arguments.count, into: &buffer)
        for argument in arguments {
            writeHeader(UInt8(ascii: "$"), argument.utf8.count, into: &buffer)
            buffer.writeString(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Appends binary `arguments` (command name first) to `buffer`, each as a bulk string.
    public static func encode(_ arguments: [ByteBuffer], into buffer: inout ByteBuffer) {
        writeHeader(UInt8(ascii: "*"), arguments.count, into: &buffer)
        for argument in arguments {
            writeHeader(UInt8(ascii: "$"), argument.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Returns `arguments` encoded into a new buffer.
    public static func encode(_ arguments: [String]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: estimatedSize(arguments.lazy.map(\.utf8.count)))
        encode(arguments, into: &buffer)
        return buffer
    }

    /// Returns binary `arguments` encoded into a new buffer.
    public static func encode(_ arguments: [ByteBuffer]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: estimatedSize(arguments.lazy.map(\.readableBytes)))
        encode(arguments, into: &buffer)
        return buffer
    }

    private static func writeHeader(_ marker: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(marker)
        buffer.writeString(String(count))
        buffer.writeStaticString("\r\n")
    }

    private static func estimatedSize(_ lengths: some Sequence<Int>) -> Int {
        lengths.reduce(16) { $0 + $1 + 16 }
    }
}
