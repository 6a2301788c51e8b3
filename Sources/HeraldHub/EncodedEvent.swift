import NIOCore

/// One event's bytes, encoded once and shared by every subscriber: the SSE text, and the same
/// text framed as an HTTP/1.1 chunk, so a server can write it to a chunked response with no
/// per-subscriber framing or allocation.
public struct EncodedEvent: Sendable, Hashable {
    /// `<hex length>\r\n` + the SSE bytes + `\r\n`.
    package let chunk: ByteBuffer
    /// The SSE bytes alone: a slice of `chunk`, sharing its storage.
    public let bytes: ByteBuffer

    /// Frames `bytes` (which must not be empty: an empty chunk would end the response).
    public init(_ bytes: ByteBuffer) {
        self.init(capacity: bytes.readableBytes) { $0.writeImmutableBuffer(bytes) }
    }

    /// Lets `encode` write the SSE bytes into one buffer with room left in front for the chunk's
    /// size line: one allocation and no copy per event (the hub's publish path). The bytes
    /// written must not be empty.
    package init<Failure: Error>(encoding encode: (inout ByteBuffer) throws(Failure) -> Void) throws(Failure) {
        try self.init(capacity: 256, encoding: encode)
    }

    /// `capacity`: the SSE bytes expected (the buffer grows if they are more).
    private init<Failure: Error>(
        capacity: Int,
        encoding encode: (inout ByteBuffer) throws(Failure) -> Void
    ) throws(Failure) {
        var buffer = Self.allocator.buffer(capacity: Self.headerRoom + capacity + 2)
        buffer.moveWriterIndex(to: Self.headerRoom)
        buffer.moveReaderIndex(to: Self.headerRoom)
        try encode(&buffer)
        let length = buffer.readableBytes
        precondition(length > 0, "an empty event would end a chunked response")
        // `<hex length>\r\n`, written backwards so it ends where the SSE bytes begin.
        var start = Self.headerRoom - 2
        buffer.setInteger(UInt8(ascii: "\r"), at: start)
        buffer.setInteger(UInt8(ascii: "\n"), at: start + 1)
        var rest = length
        repeat {
            start -= 1
            buffer.setInteger(Self.hexDigits[rest & 0xF], at: start)
            rest >>= 4
        } while rest > 0
        buffer.moveReaderIndex(to: start)
        buffer.writeStaticString("\r\n")
        self.init(chunk: buffer, bytes: buffer.getSlice(at: Self.headerRoom, length: length)!)
    }

    private static let allocator = ByteBufferAllocator()
    private static let hexDigits = Array("0123456789abcdef".utf8)

    private init(chunk: ByteBuffer, bytes: ByteBuffer) {
        self.chunk = chunk
        self.bytes = bytes
    }

    /// Room for `<hex length>\r\n` of any event up to 4 GiB (a ByteBuffer holds less).
    private static let headerRoom = 10
}
