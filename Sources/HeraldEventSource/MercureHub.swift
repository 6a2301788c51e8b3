import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// A Mercure hub (Herald or any other): publish updates, and subscribe as an ``EventSource``.
///
/// ```swift
/// let hub = MercureHub(url: "https://example.com/.well-known/mercure")
/// let id = try await hub.publish(topics: ["https://example.com/books/1"], data: #"{"title":"Dune"}"#, token: jwt)
/// for try await book in hub.subscribe(topics: ["https://example.com/books/{id}"]).messages(decoding: Book.self) { ... }
/// ```
public struct MercureHub: Sendable {
    /// The hub's URL (e.g. `https://example.com/.well-known/mercure`), without a query.
    public var url: String
    /// The transport.
    public var httpClient: HTTPClient

    public init(url: String, httpClient: HTTPClient = .shared) {
        self.url = url
        self.httpClient = httpClient
    }

    /// What a subscription selects, one query parameter each.
    public enum Matcher: Sendable, Hashable {
        /// Mercure 0.x `topic=`: an exact topic, an RFC 6570 URI template, or `*`.
        case topic(String)
        /// Mercure 1.0 `match=`: exactly this topic (never a template; `*` is just a string).
        case exact(String)
        /// Mercure 1.0 `match_urlpattern=`: a WHATWG URL Pattern.
        case urlPattern(String)
        /// Any other matcher a hub supports, as `name=value` (e.g. a hub's own `matchRegexp`).
        case parameter(name: String, value: String)

        var queryItem: (String, String) {
            switch self {
            case .topic(let value): ("topic", value)
            case .exact(let value): ("match", value)
            case .urlPattern(let value): ("match_urlpattern", value)
            case .parameter(let name, let value): (name, value)
            }
        }
    }

    /// Follows `matchers` from `lastEventID` (`earliest`: all the history the hub keeps; empty:
    /// only what comes next), with the EventSource reconnection model. Nothing connects until it
    /// is iterated.
    public func subscribe(
        _ matchers: [Matcher],
        lastEventID: String = "",
        configuration: EventSource.Configuration = EventSource.Configuration(),
        tokenProvider: AccessTokenProvider? = nil
    ) -> EventSource {
        var configuration = configuration
        if !lastEventID.isEmpty { configuration.lastEventID = lastEventID }
        let query = FormEncoding.encode(matchers.map(\.queryItem))
        let separator = self.url.contains("?") ? "&" : "?"
        return EventSource(
            url: self.url + separator + query,
            configuration: configuration,
            httpClient: self.httpClient,
            tokenProvider: tokenProvider
        )
    }

    /// Mercure 0.x subscription: one `topic=` per selector (topics, URI templates or `*`).
    public func subscribe(
        topics: [String],
        lastEventID: String = "",
        configuration: EventSource.Configuration = EventSource.Configuration(),
        tokenProvider: AccessTokenProvider? = nil
    ) -> EventSource {
        self.subscribe(topics.map(Matcher.topic), lastEventID: lastEventID, configuration: configuration, tokenProvider: tokenProvider)
    }

    /// Publishes one update and returns its id as the hub assigned (or kept) it.
    ///
    /// Give an `id` to make a retry safe: a Herald hub stores and delivers an update once per id
    /// while its history holds it. Throws ``MercureError/status(code:reason:)`` with the hub's
    /// reason when it refuses.
    public func publish(
        topics: [String],
        data: String,
        id: String? = nil,
        type: String? = nil,
        retry: Int? = nil,
        isPrivate: Bool = false,
        token: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> String {
        var fields = topics.map { ("topic", $0) }
        fields.append(("data", data))
        if let id { fields.append(("id", id)) }
        if let type { fields.append(("type", type)) }
        if let retry { fields.append(("retry", String(retry))) }
        if isPrivate { fields.append(("private", "on")) }
        var request = HTTPClientRequest(url: self.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(fields)))
        let response = try await self.httpClient.execute(request, timeout: EventSource.Iterator.timeAmount(timeout))
        let body = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard response.status == .ok else {
            throw MercureError.status(code: Int(response.status.code), reason: body)
        }
        return body
    }
}

/// A hub's refusal.
public enum MercureError: Error, Hashable, CustomStringConvertible {
    /// The hub answered `code` with this (short text) reason.
    case status(code: Int, reason: String)

    public var description: String {
        switch self {
        case .status(let code, let reason): reason.isEmpty ? "the hub answered \(code)" : "the hub answered \(code): \(reason)"
        }
    }
}

/// `application/x-www-form-urlencoded`, as Mercure's publish body and subscribe query use it:
/// everything but ALPHA / DIGIT / `-._~` is percent-encoded (a space too, never `+`).
package enum FormEncoding {
    package static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    package static func percentEncode(_ string: String) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
