import Foundation
import HeraldHTTP
import JWTKit

/// One table of hub requests (valid, invalid, every way of authorizing, Mercure 0.x and 1.0),
/// sent as raw bytes to a server, one connection per row. Every transport of the protocol core
/// must answer every row the same way (status, the headers that matter, body): the HTTP tests
/// run it against the three Hummingbird pipelines, the Vapor tests against `app.herald`.
public enum PipelineTable {
    public static let publisherSecret = "publisher-secret-publisher-secret-01"
    public static let subscriberSecret = "subscriber-secret-subscriber-secret-01"
    public static let app = "https://app.example"
    public static let hub = "/.well-known/mercure"

    /// A row: the request's bytes and the status it must get.
    public struct Row: Sendable, CustomStringConvertible {
        public let name: String
        public let request: String
        public let status: Int
        /// A stream: only its head is compared (its body goes on).
        public var stream = false
        /// Header fields it must carry (nil: must not carry).
        public var headers: [String: String?] = [:]
        public var description: String { name }

        public init(name: String, request: String, status: Int, stream: Bool = false, headers: [String: String?] = [:]) {
            self.name = name
            self.request = request
            self.status = status
            self.stream = stream
            self.headers = headers
        }
    }

    /// What a pipeline answered to a row, in the parts that must agree.
    public struct Answer: Equatable, Sendable, CustomStringConvertible {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        public var description: String { "\(status) \(headers) \(body.debugDescription)" }

        public init(status: Int, headers: [String: String], body: String) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public static let comparedHeaders = [
        "content-type", "cache-control", "allow", "www-authenticate", "access-control-allow-origin",
        "access-control-allow-credentials", "access-control-expose-headers", "access-control-allow-methods",
        "vary", "last-event-id", "mercure-last-event-id", "x-accel-buffering",
    ]

    public static func post(_ form: String, query: String = "", headers: [String] = [], contentType: String? = "application/x-www-form-urlencoded") -> String {
        var text = "POST \(hub)\(query) HTTP/1.1\r\nHost: hub.example\r\n"
        if let contentType { text += "Content-Type: \(contentType)\r\n" }
        for header in headers { text += header + "\r\n" }
        return text + "Content-Length: \(form.utf8.count)\r\n\r\n" + form
    }

    public static func get(_ target: String, headers: [String] = []) -> String {
        var text = "GET \(target) HTTP/1.1\r\nHost: hub.example\r\n"
        for header in headers { text += header + "\r\n" }
        return text + "\r\n"
    }

    public static func request(_ method: String, _ target: String, headers: [String] = []) -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: hub.example\r\n"
        for header in headers { text += header + "\r\n" }
        return text + "Content-Length: 0\r\n\r\n"
    }

    /// A Mercure 1.0 access token for this table's hub (its resource identifier is derived from
    /// `Host: hub.example`).
    public static func accessToken(_ secret: String, publish: [MercureAccessToken.Matcher] = [], subscribe: [MercureAccessToken.Matcher] = []) async throws -> String {
        var token = MercureAccessToken(issuer: nil, audience: ["http://hub.example" + hub], expiresAt: Date().addingTimeInterval(600))
        token.publish = publish
        token.subscribe = subscribe
        return try await HeraldKey(secret).sign(token)
    }

    public static func token(_ secret: String, publish: [String]? = nil, subscribe: [String]? = nil) async throws -> String {
        try await HeraldKey(secret).sign(
            MercureClaims(exp: .init(value: Date().addingTimeInterval(600)), mercure: .init(publish: publish, subscribe: subscribe))
        )
    }

    /// Rows any hub answers the same way, keyed or not (`auth`: what a publish needs).
    public static func commonRows(auth: [String]) -> [Row] {
        let origin = "Origin: \(app)"
        return [
            Row(name: "first publish", request: post("topic=t&data=x&id=row-first", headers: auth), status: 200),
            Row(name: "not a form", request: post("topic=t", contentType: "application/json"), status: 415),
            Row(name: "no content type", request: post("topic=t", contentType: nil), status: 415),
            Row(name: "bad query escape", request: post("topic=t", query: "?%zz"), status: 400),
            Row(name: "HEAD on the hub", request: request("HEAD", hub), status: 405),
            Row(name: "PUT on the hub", request: request("PUT", hub), status: 405),
            Row(name: "DELETE on subscriptions", request: request("DELETE", hub + "/subscriptions"), status: 405),
            Row(name: "preflight, listed origin", request: request("OPTIONS", hub, headers: [origin, "Access-Control-Request-Method: POST"]), status: 204),
            Row(name: "preflight, other origin", request: request("OPTIONS", hub, headers: ["Origin: https://evil.example", "Access-Control-Request-Method: POST"]), status: 403),
            Row(name: "OPTIONS without origin", request: request("OPTIONS", hub), status: 204),
            Row(name: "subscriptions preflight", request: request("OPTIONS", hub + "/subscriptions", headers: [origin, "Access-Control-Request-Method: GET"]), status: 204),
            // Subscribe, 0.x
            Row(name: "0.x subscribe", request: get(hub + "?topic=https://ex.com/a"), status: 200, stream: true, headers: ["last-event-id": "row-first", "mercure-last-event-id": nil]),
            Row(name: "0.x subscribe, template", request: get(hub + "?topic=https://ex.com/%7Bid%7D"), status: 200, stream: true),
            Row(name: "0.x subscribe from a listed origin", request: get(hub + "?topic=t", headers: [origin]), status: 200, stream: true),
            Row(name: "0.x subscribe replaying earliest", request: get(hub + "?topic=t&lastEventID=earliest"), status: 200, stream: true),
            Row(name: "0.x subscribe, last_event_id", request: get(hub + "?topic=t&last_event_id=row-first"), status: 200, stream: true),
            Row(name: "0.x subscribe, Last-Event-ID header", request: get(hub + "?topic=t", headers: ["Last-Event-ID: row-first"]), status: 200, stream: true),
            Row(name: "subscribe without selectors", request: get(hub), status: 400),
            Row(name: "subscribe, bad template", request: get(hub + "?topic=a%7B"), status: 400),
            Row(name: "subscribe, bad query", request: get(hub + "?topic=%zz"), status: 400),
            Row(name: "subscribe, refused from another origin still gets CORS", request: get(hub + "?topic=%zz", headers: [origin]), status: 400),
            // Subscribe, 1.0
            Row(name: "1.0 match", request: get(hub + "?match=https://ex.com/a"), status: 200, stream: true, headers: ["mercure-last-event-id": nil, "last-event-id": nil]),
            Row(name: "1.0 match_exact, * is a string", request: get(hub + "?match_exact=*"), status: 200, stream: true),
            Row(name: "1.0 match_urlpattern", request: get(hub + "?match_urlpattern=https://ex.com/books/:id"), status: 200, stream: true),
            Row(name: "1.0 match and match_urlpattern together", request: get(hub + "?match=t&match_urlpattern=https://ex.com/*"), status: 200, stream: true),
            Row(name: "1.0 relative URL pattern (against the hub's URL)", request: get(hub + "?match_urlpattern=/books/:id"), status: 200, stream: true),
            Row(name: "1.0 bad URL pattern", request: get(hub + "?match_urlpattern=https://ex.com/(a"), status: 400),
            Row(name: "1.0 replay, id in history", request: get(hub + "?match=t&last_event_id=row-first"), status: 200, stream: true, headers: ["mercure-last-event-id": "row-first", "last-event-id": nil]),
            Row(name: "1.0 replay, Last-Event-ID header", request: get(hub + "?match=t", headers: ["Last-Event-ID: row-first"]), status: 200, stream: true, headers: ["mercure-last-event-id": "row-first"]),
            Row(name: "1.0 replay, unknown id", request: get(hub + "?match=t&last_event_id=nowhere"), status: 200, stream: true, headers: ["mercure-last-event-id": "earliest"]),
            Row(name: "1.0 replay, earliest", request: get(hub + "?match=t&last_event_id=earliest"), status: 200, stream: true, headers: ["mercure-last-event-id": "earliest"]),
            Row(name: "1.0 subscribe from a listed origin", request: get(hub + "?match=t", headers: [origin]), status: 200, stream: true),
            Row(name: "1.0 unknown matcher", request: get(hub + "?matchfoo=t"), status: 400),
            Row(name: "1.0 names are case-sensitive", request: get(hub + "?Match=t"), status: 400),
            Row(name: "0.x and 1.0 mixed", request: get(hub + "?topic=t&match=t"), status: 400),
            // Long-polls: the replay fields follow the stream's rule per version.
            Row(name: "0.x long-poll", request: get(hub + "?topic=t&poll=1&wait=0"), status: 200, headers: ["last-event-id": "row-first", "mercure-last-event-id": nil]),
            Row(name: "1.0 long-poll, replay asked", request: get(hub + "?match=t&poll=1&wait=0&last_event_id=row-first"), status: 200, headers: ["mercure-last-event-id": "row-first", "last-event-id": nil]),
            Row(name: "1.0 long-poll, unknown id", request: get(hub + "?match=t&poll=1&wait=0", headers: ["Last-Event-ID: nowhere"]), status: 200, headers: ["mercure-last-event-id": "earliest", "last-event-id": nil]),
            Row(name: "1.0 long-poll, no replay asked", request: get(hub + "?match=t&poll=1&wait=0"), status: 200, headers: ["mercure-last-event-id": nil, "last-event-id": nil]),
            Row(name: "1.0 token in the query", request: get(hub + "?match=t&authorization=abc"), status: 400, headers: ["www-authenticate": "Bearer realm=\"herald\", error=\"invalid_request\""]),
        ]
    }

    /// Rows for a hub without keys, anonymous subscribers, `app` listed for CORS.
    public static func keylessRows() -> [Row] {
        let origin = "Origin: \(app)"
        return commonRows(auth: []) + [
            Row(name: "keyless publish", request: post("topic=t&data=x&id=row-plain"), status: 200),
            Row(name: "keyless private publish", request: post("topic=t&data=x&id=row-private&private="), status: 200),
            Row(name: "keyless publish, retry", request: post("topic=t&data=x&id=row-retry&retry=250"), status: 200),
            Row(name: "keyless publish through a proxy", request: post("topic=t&id=row-proxied", headers: ["X-Forwarded-For: 192.0.2.1"]), status: 403),
            Row(name: "keyless publish from a listed origin", request: post("topic=t&id=row-origin", headers: [origin]), status: 200),
            Row(name: "keyless publish from another origin", request: post("topic=t&id=row-evil", headers: ["Origin: https://evil.example"]), status: 403),
            // Same-origin is `Origin` against the request's `Host` (`:authority`): a transport that
            // loses the authority (HeraldVapor did) sees every page as cross-origin.
            Row(
                name: "keyless publish from the hub's own loopback page",
                request: post("topic=t&id=row-own-page", headers: ["Origin: http://127.0.0.1:8080"])
                    .replacingOccurrences(of: "Host: hub.example", with: "Host: 127.0.0.1:8080"),
                status: 200
            ),
            Row(name: "keyless publish from the hub's own page, not a loopback name", request: post("topic=t&id=row-rebound", headers: ["Origin: http://hub.example"]), status: 403),
            Row(name: "empty body", request: post(""), status: 400),
            Row(name: "missing topic", request: post("data=x"), status: 400),
            Row(name: "duplicate data", request: post("topic=t&data=a&data=b"), status: 400),
            Row(name: "bad retry", request: post("topic=t&retry=-1"), status: 400),
            Row(name: "bad form escape", request: post("topic=%zz"), status: 400),
            Row(name: "id starting with #", request: post("topic=t&id=%23x"), status: 400),
            Row(name: "id earliest", request: post("topic=t&id=earliest"), status: 400),
            Row(name: "type mercure", request: post("topic=t&type=mercure"), status: 400),
            // The hub's own namespace (subscription events) cannot be published to, by any spelling.
            Row(name: "topic in the hub's namespace", request: post("topic=%2F.well-known%2Fmercure%2Fsubscriptions%2Fx"), status: 403),
            Row(
                name: "absolute topic in the hub's namespace",
                request: post("topic=https%3A%2F%2Fexample.com%2F.well-known%2FMercure%2Fsubscriptions%2Fx"),
                status: 403
            ),
            Row(name: "second topic in the hub's namespace", request: post("topic=t&topic=%2F.well-known%2Fmercure%2F%2573"), status: 403),
            // A malformed escape later in the topic does not stop the escaped spelling from counting.
            Row(name: "escaped namespace with a malformed escape after it", request: post("topic=%2F.well-known%2F%256Dercure%2Fsubscriptions%2F%25zz"), status: 403),
            Row(name: "a topic merely mentioning the namespace", request: post("topic=https%3A%2F%2Fexample.com%2Fdocs%2F.well-known%2Fmercure%2F&id=mentions-the-namespace"), status: 200),
            Row(name: "id with a newline", request: post("topic=t&id=a%0Ab"), status: 400),
            Row(name: "topic too long", request: post("topic=" + String(repeating: "a", count: 2049)), status: 400),
            Row(name: "declared body over the limit", request: "POST \(hub) HTTP/1.1\r\nHost: hub.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999\r\n\r\n", status: 413),
            Row(name: "subscriptions without a subscriber key", request: get(hub + "/subscriptions"), status: 403),
        ]
    }

    /// Rows for a hub with publisher and subscriber keys.
    public static func keyedRows() async throws -> [Row] {
        let all = try await token(publisherSecret, publish: ["*"])
        let narrow = try await token(publisherSecret, publish: ["https://ex.com/books/{id}"])
        let none = try await token(publisherSecret, subscribe: ["*"])
        let wrongKey = try await token(subscriberSecret, publish: ["*"])
        let subscriber = try await token(subscriberSecret, subscribe: ["urn:nothing"])
        let publisher1 = try await accessToken(publisherSecret, publish: [.init("*")])
        let subscriber1 = try await accessToken(subscriberSecret, subscribe: [.init("*")])
        let nobody = hub + "/subscriptions/exact/nobody"
        let viewer1 = try await accessToken(subscriberSecret, subscribe: [.init(nobody)])
        let origin = "Origin: \(app)"
        return commonRows(auth: ["Authorization: Bearer \(all)"]) + [
            Row(name: "subscriptions API, too deep", request: get(hub + "/subscriptions/a/b/c", headers: ["Authorization: Bearer \(subscriber)"]), status: 404),
            Row(name: "publish, bearer header", request: post("topic=t&data=x&id=row-token-header", headers: ["Authorization: Bearer \(all)"]), status: 200),
            Row(name: "publish, same token again (cached)", request: post("topic=t&data=x&id=row-token-again", headers: ["Authorization: Bearer \(all)"]), status: 200),
            Row(name: "publish, token in the query", request: post("topic=t&id=row-token-query", query: "?authorization=\(all)"), status: 200),
            Row(name: "publish, token in the cookie", request: post("topic=t&id=row-token-cookie", headers: ["Cookie: other=1; mercureAuthorization=\(all)"]), status: 200),
            Row(name: "publish, header beats a bad query token", request: post("topic=t&id=row-precedence", query: "?authorization=bad", headers: ["Authorization: Bearer \(all)"]), status: 200),
            Row(name: "publish, template claim covers", request: post("topic=https://ex.com/books/1&id=row-narrow", headers: ["Authorization: Bearer \(narrow)"]), status: 200),
            Row(name: "publish, template claim does not cover", request: post("topic=https://ex.com/authors/1", headers: ["Authorization: Bearer \(narrow)"]), status: 403),
            Row(name: "publish, no publish claim", request: post("topic=t", headers: ["Authorization: Bearer \(none)"]), status: 403),
            Row(name: "publish, wrong key", request: post("topic=t", headers: ["Authorization: Bearer \(wrongKey)"]), status: 401),
            Row(name: "publish, malformed token", request: post("topic=t", headers: ["Authorization: Bearer not.a.jwt"]), status: 401),
            Row(name: "publish, no token", request: post("topic=t"), status: 401),
            Row(name: "publish, another scheme", request: post("topic=t", headers: ["Authorization: Basic YTpi"]), status: 401),
            Row(name: "publish, bearer from a listed origin", request: post("topic=t&id=row-cors", headers: [origin, "Authorization: Bearer \(all)"]), status: 200),
            Row(name: "publish, bearer from the hub's own origin", request: post("topic=t&id=row-same-origin", headers: ["Origin: http://hub.example", "Authorization: Bearer \(all)"]), status: 200),
            Row(name: "publish, cookie from the hub's own origin", request: post("topic=t&id=row-same-origin-cookie", headers: ["Origin: http://hub.example", "Cookie: mercureAuthorization=\(all)"]), status: 200),
            Row(name: "publish, cookie from another origin", request: post("topic=t", headers: ["Origin: https://evil.example", "Cookie: mercureAuthorization=\(all)"]), status: 403),
            Row(name: "subscribe with a subscriber token", request: get(hub + "?topic=t", headers: ["Authorization: Bearer \(subscriber)"]), status: 200, stream: true),
            Row(name: "subscribe with a bad token", request: get(hub + "?topic=t", headers: ["Authorization: Bearer nope"]), status: 401),
            Row(name: "subscribe, token in the query (0.x)", request: get(hub + "?topic=t&authorization=\(subscriber)"), status: 200, stream: true),
            Row(name: "subscriptions API", request: get(hub + "/subscriptions", headers: ["Authorization: Bearer \(subscriber)"]), status: 200),
            Row(name: "subscriptions API, one topic", request: get(hub + "/subscriptions/t", headers: ["Authorization: Bearer \(subscriber)"]), status: 200),
            Row(name: "subscriptions API, no token", request: get(hub + "/subscriptions"), status: 401),
            Row(name: "subscriptions API, publisher's token", request: get(hub + "/subscriptions", headers: ["Authorization: Bearer \(all)"]), status: 401),
            // Mercure 1.0 publishes (authorized with an access token): exactly one topic.
            Row(name: "1.0 publish", request: post("topic=t&data=x&id=row-at", headers: ["Authorization: Bearer \(publisher1)"]), status: 200),
            Row(name: "1.0 publish, two topics", request: post("topic=t&topic=u&id=row-at-two", headers: ["Authorization: Bearer \(publisher1)"]), status: 400),
            Row(name: "0.x publish, two topics", request: post("topic=t&topic=u&id=row-two", headers: ["Authorization: Bearer \(all)"]), status: 200),
            Row(name: "1.0 subscribe with an access token", request: get(hub + "?match=t", headers: ["Authorization: Bearer \(subscriber1)"]), status: 200, stream: true),
            Row(name: "1.0 subscribe with a 0.x token", request: get(hub + "?match=t", headers: ["Authorization: Bearer \(subscriber)"]), status: 401),
            // The 1.0 subscriptions API: the access token's grant must cover the path.
            Row(name: "1.0 subscriptions API, one matcher", request: get(nobody, headers: ["Authorization: Bearer \(viewer1)"]), status: 200, headers: ["content-type": "application/ld+json"]),
            Row(name: "1.0 subscriptions API, not covered", request: get(hub + "/subscriptions", headers: ["Authorization: Bearer \(viewer1)"]), status: 403, headers: ["www-authenticate": "Bearer error=\"insufficient_scope\", error_description=\"not allowed to read /.well-known/mercure/subscriptions\""]),
            Row(name: "1.0 subscriptions API, all", request: get(hub + "/subscriptions/exact/nobody/urn%3Auuid%3Ax", headers: ["Authorization: Bearer \(subscriber1)"]), status: 404),
            Row(name: "1.0 subscriptions API, unknown match_type", request: get(hub + "/subscriptions/regexp/x", headers: ["Authorization: Bearer \(subscriber1)"]), status: 400),
            Row(name: "1.0 subscriptions API, a type alone", request: get(hub + "/subscriptions/exact", headers: ["Authorization: Bearer \(subscriber1)"]), status: 404),
            Row(name: "1.0 subscriptions API, too deep", request: get(nobody + "/a/b", headers: ["Authorization: Bearer \(subscriber1)"]), status: 404),
            Row(name: "1.0 subscriptions API, token in the query", request: get(hub + "/subscriptions?authorization=\(subscriber1)"), status: 400),
            Row(name: "1.0 subscriptions API, publisher's access token", request: get(nobody, headers: ["Authorization: Bearer \(publisher1)"]), status: 401),
            Row(name: "declared body over the limit, with a token", request: "POST \(hub) HTTP/1.1\r\nHost: hub.example\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: Bearer \(all)\r\nContent-Length: 99999999\r\n\r\n", status: 413),
        ]
    }

    /// Sends every row to the server on `port`, one connection per row, and collects the answers.
    public static func answers(_ rows: [Row], port: Int) async throws -> [Answer] {
        var answers: [Answer] = []
        for row in rows {
            let connection = try await RawConnection.open(port: port)
            defer { connection.close() }
            try await connection.send(row.request)
            let text = try await connection.read { text in
                row.stream ? text.contains("\r\n\r\n") : (completeResponses(text) ?? 0) >= 1
            }
            answers.append(parse(text, stream: row.stream))
        }
        return answers
    }

    public static func parse(_ text: String, stream: Bool) -> Answer {
        let parts = text.components(separatedBy: "\r\n\r\n")
        var lines = parts[0].components(separatedBy: "\r\n")
        // No answer at all (the server closed the connection, or said nothing in time): status 0.
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            if comparedHeaders.contains(name) {
                headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return Answer(status: status, headers: headers, body: stream ? "" : parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    public static func configuration(keys: Bool) -> HeraldHTTPConfiguration {
        var http = HeraldHTTPConfiguration()
        http.corsOrigins = [app]
        // Fixed, so that HTTP/2 (`:scheme https`) needs the same access tokens as HTTP/1.
        http.resourceIdentifier = "http://hub.example" + hub
        if keys {
            http.publisherKey = HeraldKey(publisherSecret)
            http.subscriberKey = HeraldKey(subscriberSecret)
        }
        return http
    }
}
