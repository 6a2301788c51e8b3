import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSentEvents

/// A client of a Herald (or any Mercure) hub: publish updates and follow topics as a stream
/// of parsed events.
public struct HeraldClient: Sendable {
    /// The HTTP transport.
    public let http: HTTPStreamingClient
    /// The hub's path on the server.
    public var hubPath: String

    /// Creates a client for the server at `baseURL` (e.g. `http://127.0.0.1:8080`).
    public init(
        baseURL: String,
        hubPath: String = "/.well-known/mercure",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.http = try HTTPStreamingClient(baseURL: baseURL, eventLoopGroup: eventLoopGroup)
        self.hubPath = hubPath
    }

    /// The type (`ServerSentEvent.event`) of the event a Herald hub starts a stream with when
    /// the `lastEventID` asked for is no longer (or never was) in its history: updates may have
    /// been missed, so the application should reload its state. The event's data is
    /// `{"lastEventID":"<the id asked for>"}`, and it has no id. (The hub's `Hub.gapEventType`.)
    public static let gapEventType = "herald-gap"

    /// Publishes; returns the update's id, or throws `HeraldClientError.status` with the reason.
    /// A publisher that retries a failed publish should give an `id`: the hub stores and
    /// delivers an update once per id (while its history holds it), so a retry of a publish
    /// that did succeed is answered with the same id and not delivered again.
    public func publish(
        topics: [String],
        data: String,
        id: String? = nil,
        type: String? = nil,
        retry: Int? = nil,
        isPrivate: Bool = false,
        token: String? = nil
    ) async throws -> String {
        var fields = topics.map { ("topic", $0) }
        fields.append(("data", data))
        if let id { fields.append(("id", id)) }
        if let type { fields.append(("type", type)) }
        if let retry { fields.append(("retry", String(retry))) }
        if isPrivate { fields.append(("private", "on")) }
        var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.send(
            method: .POST,
            path: hubPath,
            headers: headers,
            body: ByteBuffer(string: Self.formEncode(fields))
        )
        let text = try await response.text()
        guard response.status == .ok else { throw HeraldClientError.status(Int(response.status.code), text) }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Opens one SSE connection to `topics`; the stream yields events, comments and retry hints
    /// until the server ends the response or `close` is called. Throws on a non-200 answer.
    public func subscribe(
        topics: [String],
        lastEventID: String? = nil,
        token: String? = nil
    ) async throws -> (elements: AsyncThrowingStream<ServerSentEventParser.Element, any Error>, close: @Sendable () -> Void) {
        let query = Self.formEncode(topics.map { ("topic", $0) })
        var headers: HTTPHeaders = ["Accept": "text/event-stream"]
        if let lastEventID { headers.add(name: "Last-Event-ID", value: lastEventID) }
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.send(method: .GET, path: hubPath + "?" + query, headers: headers)
        guard response.status == .ok else {
            let text = (try? await response.text()) ?? ""
            throw HeraldClientError.status(Int(response.status.code), text)
        }
        return (response.events, response.close)
    }

    /// `application/x-www-form-urlencoded` encoding of `fields`.
    public static func formEncode(_ fields: [(String, String)]) -> String {
        fields.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func percentEncode(_ string: String) -> String {
        var out = ""
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
