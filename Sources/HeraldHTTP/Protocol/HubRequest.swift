import HTTPTypes
import NIOCore

/// A request to the hub as the protocol core (`HubProtocol`) sees it, whichever transport read
/// it: the Hummingbird router (HTTP/1, HTTP/2), the event-loop handlers, or the raw publish
/// reader. A transport fills one in from what it parsed and nothing else; every protocol rule
/// (query decoding, content type, token precedence, the `Origin` rule, what a local client
/// is) is applied to it by the core, once.
package struct HubRequest: Sendable {
    package var method: HTTPRequest.Method
    /// The request target's path, without the query string (still percent-encoded).
    package var path: Substring
    /// The query string after `?`; nil when the target has none.
    package var query: Substring?
    /// The header fields the protocol reads: `Content-Type`, `Content-Length`, `Authorization`,
    /// `Cookie`, `Origin`, `Host` (`:authority`), `Last-Event-ID`, the proxy headers, CORS
    /// preflight fields. A fast-path reader that gives only some of them must only ask the core
    /// for answers that the missing ones cannot change (`HubProtocol.publishNow`).
    package var headers: HTTPFields
    /// The fields every publish reads, looked up once (a lookup in `HTTPFields` is not free, and
    /// the raw publish reader sets them without building `headers` at all).
    package var contentType: String?
    package var contentLength: String?
    package var authorization: String?
    package var origin: String?
    /// Whether a proxy forwarded the request (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`): then
    /// its peer address says nothing about its client.
    package var isForwarded: Bool
    /// `:authority` (HTTP/2) or `Host` (HTTP/1).
    package var authority: String?
    /// `:scheme` when the transport knows it (HTTP/2); nil for HTTP/1 (taken as `http`).
    package var scheme: String?
    /// The body (empty for a subscribe, or a publish refused before its body was read).
    package var body: ByteBuffer
    /// Whether the connection's peer is a loopback address. Whether that makes a *local
    /// client* is the core's rule (not when a proxy forwarded the request).
    package var peerIsLoopback: Bool

    package init(
        method: HTTPRequest.Method,
        target: String,
        headers: HTTPFields,
        authority: String? = nil,
        body: ByteBuffer = ByteBuffer(),
        peerIsLoopback: Bool
    ) {
        self.method = method
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.path = target[..<mark]
            self.query = target[target.index(after: mark)...]
        } else {
            self.path = Substring(target)
            self.query = nil
        }
        self.headers = headers
        self.contentType = headers[.contentType]
        self.contentLength = headers[.contentLength]
        self.authorization = headers[.authorization]
        self.origin = headers[.origin]
        self.isForwarded = headers.isForwardedByProxy
        self.authority = authority
        self.body = body
        self.peerIsLoopback = peerIsLoopback
    }

    /// A plain publish from the raw publish reader, which keeps only the fields a fast answer
    /// depends on (`HubProtocol.publishNow` never refuses, so the others cannot change its
    /// answer; a request with an `Origin` never reaches it).
    init(
        publishTo path: Substring,
        query: Substring?,
        contentType: String?,
        authorization: String?,
        isForwarded: Bool,
        body: ByteBuffer,
        peerIsLoopback: Bool
    ) {
        self.method = .post
        self.path = path
        self.query = query
        self.headers = HTTPFields()
        self.contentType = contentType
        self.contentLength = nil
        self.authorization = authorization
        self.origin = nil
        self.isForwarded = isForwarded
        self.authority = nil
        self.body = body
        self.peerIsLoopback = peerIsLoopback
    }

    /// A request described by its HTTPTypes head (what the router, the event-loop handler and
    /// HeraldVapor have).
    package init(head: HTTPRequest, body: ByteBuffer = ByteBuffer(), peerIsLoopback: Bool) {
        self.init(
            method: head.method,
            target: head.path ?? "",
            headers: head.headerFields,
            authority: head.authority,
            body: body,
            peerIsLoopback: peerIsLoopback
        )
        self.scheme = head.scheme
    }

    /// The value of the cookie `name`, if the request carries it (every `Cookie` field is read).
    func cookie(_ name: String) -> String? {
        Self.cookie(name, in: headers)
    }

    /// The value of the cookie `name` in `headers` (every `Cookie` field is read): the one
    /// cookie rule, also for the demo chat's session on any server.
    package static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                var value = trimmed[trimmed.index(after: equals)...]
                while value.last == " " { value.removeLast() }
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return String(value)
            }
        }
        return nil
    }

    /// A client on this machine: a loopback peer that no proxy forwarded for someone else.
    var isLocalClient: Bool { peerIsLoopback && !isForwarded }

    /// Whether an `Origin` header, if any, names the same host and port this request was sent
    /// to: the same-origin check that keeps cookie-authenticated writes safe from CSRF.
    var isSameOriginOrNoOrigin: Bool {
        Self.isSameOrigin(origin: origin, authority: authority)
    }

    /// The one same-origin rule (also behind `Request.isSameOriginOrNoOrigin` for the chat).
    package static func isSameOrigin(origin: String?, authority: String?) -> Bool {
        guard let origin else { return true }
        guard let host = authority else { return false }
        guard let schemeEnd = origin.range(of: "://") else { return false }
        return origin[schemeEnd.upperBound...].lowercased() == host.lowercased()
    }

    /// Whether the request names a loopback host (`localhost`, `127.x.x.x`, `[::1]`) in its
    /// `Host`: what a page on this machine's own hub sends, unlike a rebound public name.
    var isAddressedToLoopback: Bool {
        guard var host = authority?.lowercased() else { return false }
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return false }
            return host[host.index(after: host.startIndex)..<end] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
