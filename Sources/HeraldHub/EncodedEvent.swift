import NIOCore

/// One event's bytes, encoded once and shared by every subscriber: the SSE text, and the same
/// text framed as an HTTP/1.1 chunk, so a server can write it to a chunked response with no
/// per-subscriber framing or allocation.
public struct EncodedEvent: Sendable, Hashable {
    /// `<hex length>\r\n` + the SSE bytes + `\r\n`.
    public let chunk: ByteBuffer
    /// The SSE bytes alone: a slice of `chunk`, sharing its storage.
    public let bytes: ByteBuffer

    /// Frames `bytes` (which must not be empty: an empty chunk would end the response).
    public init(_ bytes: ByteBuffer) {
        precondition(bytes.readableBytes > 0, "an empty event would end a chunked response")
        let header = String(bytes.readableBytes, radix: 16) + "\r\n"
        var chunk = ByteBuffer()
        chunk.reserveCapacity(header.utf8.count + bytes.readableBytes + 2)
        chunk.writeString(header)
        chunk.writeImmutableBuffer(bytes)
        chunk.writeStaticString("\r\n")
        self.chunk = chunk
        self.bytes = chunk.getSlice(at: chunk.readerIndex + header.utf8.count, length: bytes.readableBytes)!
    }

    /// Lets `encode` write the SSE bytes into one buffer with room left in front for the chunk's
    /// size line: one allocation and no copy per event (the hub's publish path). The bytes
    /// written must not be empty.
    public init<Failure: Error>(encoding encode: (inout ByteBuffer) throws(Failure) -> Void) throws(Failure) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256)
        buffer.moveWriterIndex(to: Self.headerRoom)
        buffer.moveReaderIndex(to: Self.headerRoom)
        try encode(&buffer)
        let length = buffer.readableBytes
        let header = String(length, radix: 16) + "\r\n"
        guard header.utf8.count <= Self.headerRoom else {
            self.init(buffer)
            return
        }
        precondition(length > 0, "an empty event would end a chunked response")
        let start = Self.headerRoom - header.utf8.count
        buffer.setString(header, at: start)
        buffer.moveReaderIndex(to: start)
        buffer.writeStaticString("\r\n")
        self.init(chunk: buffer, bytes: buffer.getSlice(at: Self.headerRoom, length: length)!)
    }

    private init(chunk: ByteBuffer, bytes: ByteBuffer) {
        self.chunk = chunk
        self.bytes = bytes
    }

    /// Room for `<hex length>\r\n` of any event up to 4 GiB.
    private static let headerRoom = 10
}
