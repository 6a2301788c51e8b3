import HTTPTypes
import HeraldHTTP
import NIOCore

/// A chat request as the chat's logic sees it, whichever server read it (Hummingbird here,
/// Vapor in Examples/VaporChat): its header fields, the host it was sent to, and its body.
package struct ChatRequest: Sendable {
    package var headers: HTTPFields
    /// `:authority` (HTTP/2) or `Host` (HTTP/1).
    package var authority: String?
    /// The body, read up to `ChatRequest.maxBodySize`; nil when it was larger.
    package var body: ByteBuffer?

    /// The longest body the chat reads (a name or a message, as JSON).
    package static let maxBodySize = 16 * 1024

    package init(headers: HTTPFields, authority: String?, body: ByteBuffer? = ByteBuffer()) {
        self.headers = headers
        self.authority = authority
        self.body = body
    }

    /// The value of cookie `name` (the hub's cookie rule).
    func cookie(_ name: String) -> String? {
        HubRequest.cookie(name, in: headers)
    }

    /// Whether an `Origin`, if any, is this request's own (the hub's same-origin rule).
    var isSameOriginOrNoOrigin: Bool {
        HubRequest.isSameOrigin(origin: headers[.origin], authority: authority)
    }
}

/// A chat answer for any server to write as it is.
package struct ChatAnswer: Sendable {
    package var status: HTTPResponse.Status
    package var headers: HTTPFields
    package var body: ByteBuffer
}
