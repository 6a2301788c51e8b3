import HeraldHub
import NIOCore

/// The publish fast path shared by `HubChannelHandler` and `PublishFrontHandler`: a publish
/// that is valid, authorized without waiting and accepted by the broker at once is answered on
/// the event loop; for anything else these return nil and the router answers as usual.
extension HeraldEndpoint {
    /// Publishes a form body if it can be done without suspending; the new update's id, or nil
    /// when the router should handle the request (errors included).
    func publishImmediately(
        contentType: String?,
        body: ByteBuffer,
        authorization: String?,
        query: Substring?,
        isForwarded: Bool,
        remoteAddress: () -> SocketAddress?
    ) -> String? {
        // A query that does not decode is the router's to refuse (400), as on every path.
        let form = query.flatMap { try? Self.decodeQuery($0) }
        if query != nil, form == nil { return nil }
        guard let contentType, Self.isForm(contentType), body.readableBytes > 0,
            let update = try? Self.decodeUpdate(body, maxTopicLength: hub.configuration.maxTopicLength),
            isAuthorizedNow(
                authorization: authorization,
                query: form,
                topics: update.topics,
                isForwarded: isForwarded,
                remoteAddress: remoteAddress
            )
        else { return nil }
        let id = hub.publishImmediately(update)
        if id != nil { countFastPublish() }
        return id
    }

    /// Whether a Content-Type is a form (`application/x-www-form-urlencoded`, any case, any
    /// parameters).
    private static func isForm(_ contentType: String) -> Bool {
        var form = formType.makeIterator()
        for byte in contentType.utf8 {
            guard let expected = form.next() else { return true }
            if ((0x41...0x5A).contains(byte) ? byte | 0x20 : byte) != expected { return false }
        }
        return form.next() == nil
    }

    private static let formType = Array("application/x-www-form-urlencoded".utf8)

    /// Authorized without waiting: loopback with no key (and no proxy in between), or a bearer
    /// token (header, else the `authorization` query parameter) verified before whose claim
    /// covers every topic.
    private func isAuthorizedNow(
        authorization: String?,
        query: FormFields?,
        topics: [String],
        isForwarded: Bool,
        remoteAddress: () -> SocketAddress?
    ) -> Bool {
        guard let verifier = publisherVerifier else { return isLocalClient(remoteAddress(), forwarded: isForwarded) }
        var token: String?
        if let authorization {
            token = bearerToken(authorization)
        } else if let query {
            token = query.values("authorization").first
        }
        guard let token, let claims = verifier.cachedClaims(token), let allowed = claims.mercure?.publish else {
            return false
        }
        return Self.firstTopic(of: topics, notCoveredBy: allowed) == nil
    }

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

    /// The head of a publish's answer up to the length's value.
    private static let publishedHead = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: "
    )
}
