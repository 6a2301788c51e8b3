import HTTPTypes
import NIOCore

/// The publish answer of the fast paths (`HubChannelHandler`, `PublishFrontHandler`) as
/// finished bytes: the same status, fields and body as the core's `HubAnswer.published`.
extension HeraldEndpoint {
    /// A publish's `200` answer carrying `id`, as finished HTTP/1.1 bytes (the same fields as
    /// the router's plain-text answers).
    static func publishedAnswer(_ id: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = id.utf8.count
        var bytes = allocator.buffer(capacity: publishedHead.readableBytes + 8 + length)
        bytes.writeImmutableBuffer(publishedHead)
        bytes.writeString(String(length))
        bytes.writeStaticString("\r\n\r\n")
        bytes.writeString(id)
        return bytes
    }

    /// The head of a publish's answer up to the length's value, made from the core's answer
    /// (`HubAnswer.published`), so the fields are written in one place.
    private static let publishedHead: ByteBuffer = {
        let answer = HubAnswer.published("")
        var head = "HTTP/1.1 \(answer.status.code) \(answer.status.reasonPhrase)\r\n"
        for field in answer.headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        return ByteBuffer(string: head + "Content-Length: ")
    }()
}
