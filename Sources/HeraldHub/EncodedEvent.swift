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
}
